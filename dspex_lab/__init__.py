"""dspex_lab: program language models, evaluate and optimize them, and see every step.

Use it as `import dspex_lab as dx`. Names are imported on first use, so importing
the package is quick and writes nothing to disk.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from dspex_lab.lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # kernel
    "Signature": "dspex_lab.signature",
    "InputField": "dspex_lab.signature",
    "OutputField": "dspex_lab.signature",
    "Example": "dspex_lab.example",
    "Prediction": "dspex_lab.prediction",
    "Module": "dspex_lab.modules.module",
    "load": "dspex_lab.modules.module",
    "Predict": "dspex_lab.modules.predict",
    "ChainOfThought": "dspex_lab.modules.chain_of_thought",
    "Adapter": "dspex_lab.adapters.base",
    "ReAct": "dspex_lab.modules.react",
    "Tool": "dspex_lab.modules.tool",
    "ToolCalls": "dspex_lab.modules.tool",
    "History": "dspex_lab.modules.history",
    "Image": "dspex_lab.modules.image",
    "ChatAdapter": "dspex_lab.adapters.chat",
    "JSONAdapter": "dspex_lab.adapters.json",
    "configure": "dspex_lab.config",
    "Callback": "dspex_lab.callbacks",
    "context": "dspex_lab.config",
    # errors
    "DspexError": "dspex_lab.errors",
    "SignatureError": "dspex_lab.errors",
    "InputError": "dspex_lab.errors",
    "AdapterParseError": "dspex_lab.errors",
    "ConfigurationError": "dspex_lab.errors",
    "LMError": "dspex_lab.errors",
    "CircuitOpenError": "dspex_lab.errors",
    "Interrupted": "dspex_lab.errors",
    "OptimizationError": "dspex_lab.optimize.base",
    "ClusterError": "dspex_lab.errors",
    "ShippingError": "dspex_lab.errors",
    # LMs
    "BaseLM": "dspex_lab.lm.base",
    "LMResponse": "dspex_lab.lm.base",
    "Usage": "dspex_lab.lm.usage",
    "ScriptedLM": "dspex_lab.lm.scripted",
    "LM": "dspex_lab.lm.factory",
    "inspect_history": "dspex_lab.lm.history",
    "track_usage": "dspex_lab.lm.usage",
    "streamify": "dspex_lab.streaming",
    "StreamChunk": "dspex_lab.streaming",
    # evaluation
    "evaluate": "dspex_lab.evaluation.evaluator",
    "aevaluate": "dspex_lab.evaluation.evaluator",
    "Evaluate": "dspex_lab.evaluation.evaluator",
    "EvaluationResult": "dspex_lab.evaluation.result",
    "answer_exact_match": "dspex_lab.evaluation.answers",
    "answer_passage_match": "dspex_lab.evaluation.answers",
    "SemanticF1": "dspex_lab.evaluation.judges",
    "CompleteAndGrounded": "dspex_lab.evaluation.judges",
    "DaskExecutor": "dspex_lab.evaluation.dask_executor",
    # optimizers
    "Optimizer": "dspex_lab.optimize.base",
    "CompileReport": "dspex_lab.optimize.base",
    "LabeledFewShot": "dspex_lab.optimize.labeled",
    "BootstrapFewShot": "dspex_lab.optimize.bootstrap",
    "BootstrapFewShotWithRandomSearch": "dspex_lab.optimize.random_search",
    # tracing
    "get_events": "dspex_lab.trace.query",
    "get_state_at": "dspex_lab.trace.timetravel",
    "get_state_history": "dspex_lab.trace.timetravel",
    "get_message_flow": "dspex_lab.trace.flow",
    # the workbench
    "EvaluationPanel": "dspex_lab.lab.evaluation",
    "OptimizationPanel": "dspex_lab.lab.optimization",
    "DemoInspector": "dspex_lab.lab.demos",
    "TimelineExplorer": "dspex_lab.lab.timeline",
    "compare": "dspex_lab.lab.compare",
}

_SUBMODULES = ("trace", "datasets", "lab")

__all__ = sorted([*_EXPORTS, *_SUBMODULES])

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, _SUBMODULES)


def _in_kernel() -> bool:
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


def _notebook_progress() -> Any:
    try:
        from dspex_lab.lab.hooks import notebook_progress
    except ImportError:  # the `lab` extra (ipywidgets, plotly) is not installed
        from dspex_lab.evaluation.progress import TerminalProgress

        return TerminalProgress()
    return notebook_progress()


if _in_kernel():
    # In a notebook, dx.evaluate(...) and compile(...) show their live panels;
    # dspex_lab.lab.disable() goes back to the terminal bar.
    from dspex_lab.evaluation.progress import register_notebook_progress

    register_notebook_progress(_notebook_progress)


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext dspex_lab`: the `%dspex` magics, and panels for evaluate and compile (see `dspex_lab.lab`)."""
    from dspex_lab.lab.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from dspex_lab.lab.magics import unload_ipython_extension as unload

    unload(ipython)


if TYPE_CHECKING:
    from dspex_lab.adapters.base import Adapter
    from dspex_lab.adapters.chat import ChatAdapter
    from dspex_lab.adapters.json import JSONAdapter
    from dspex_lab.callbacks import Callback
    from dspex_lab.config import configure, context
    from dspex_lab.errors import (
        AdapterParseError,
        CircuitOpenError,
        ClusterError,
        ConfigurationError,
        DspexError,
        InputError,
        Interrupted,
        LMError,
        ShippingError,
        SignatureError,
    )
    from dspex_lab.evaluation.answers import answer_exact_match, answer_passage_match
    from dspex_lab.evaluation.dask_executor import DaskExecutor
    from dspex_lab.evaluation.evaluator import Evaluate, aevaluate, evaluate
    from dspex_lab.evaluation.judges import CompleteAndGrounded, SemanticF1
    from dspex_lab.evaluation.result import EvaluationResult
    from dspex_lab.example import Example
    from dspex_lab.lab.compare import compare
    from dspex_lab.lab.demos import DemoInspector
    from dspex_lab.lab.evaluation import EvaluationPanel
    from dspex_lab.lab.optimization import OptimizationPanel
    from dspex_lab.lab.timeline import TimelineExplorer
    from dspex_lab.lm.base import BaseLM, LMResponse
    from dspex_lab.lm.factory import LM
    from dspex_lab.lm.history import inspect_history
    from dspex_lab.lm.scripted import ScriptedLM
    from dspex_lab.lm.usage import Usage, track_usage
    from dspex_lab.modules.chain_of_thought import ChainOfThought
    from dspex_lab.modules.history import History
    from dspex_lab.modules.image import Image
    from dspex_lab.modules.module import Module, load
    from dspex_lab.modules.predict import Predict
    from dspex_lab.modules.react import ReAct
    from dspex_lab.modules.tool import Tool, ToolCalls
    from dspex_lab.optimize.base import CompileReport, OptimizationError, Optimizer
    from dspex_lab.optimize.bootstrap import BootstrapFewShot
    from dspex_lab.optimize.labeled import LabeledFewShot
    from dspex_lab.optimize.random_search import BootstrapFewShotWithRandomSearch
    from dspex_lab.prediction import Prediction
    from dspex_lab.signature import InputField, OutputField, Signature
    from dspex_lab.streaming import StreamChunk, streamify
    from dspex_lab.trace.flow import get_message_flow
    from dspex_lab.trace.query import get_events
    from dspex_lab.trace.timetravel import get_state_at, get_state_history
