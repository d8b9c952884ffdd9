"""The shipped tasks: what `dx.datasets.load` returns, how the files are made, and errors on bad files."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

import dspex_lab as dx
from dspex_lab import datasets

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.mark.parametrize("name", ["sentiment", "capitals", "arithmetic", "topics", "language", "animals", "entities"])
def test_each_shipped_task_has_at_least_100_examples_split_into_train_and_dev(name):
    train, dev = dx.datasets.load(name)

    assert len(train) + len(dev) >= 100
    assert train
    assert dev
    for example in [*train, *dev]:
        assert isinstance(example, dx.Example)
        assert example.input_keys
        assert example.labels()


@pytest.mark.parametrize("name", ["sentiment", "capitals", "arithmetic", "topics", "language", "animals", "entities"])
def test_train_and_dev_do_not_share_examples(name):
    train, dev = dx.datasets.load(name)

    assert not {example.to_json() for example in train} & {example.to_json() for example in dev}


@pytest.mark.parametrize("name", ["sentiment", "capitals", "arithmetic", "topics", "language", "animals", "entities"])
def test_the_task_signature_fits_its_examples(name):
    task = dx.datasets.task(name)
    train, _ = task.load()
    predict = dx.Predict(task.signature)

    assert set(train[0].inputs()) == set(predict.signature.input_fields)
    assert set(predict.signature.output_fields) <= set(train[0].labels())


def test_the_files_are_exactly_what_the_generator_writes(tmp_path):
    script = tmp_path / "make_tasks.py"
    script.write_text((DATA / "make_tasks.py").read_text(encoding="utf-8"), encoding="utf-8")

    subprocess.run([sys.executable, str(script)], check=True, capture_output=True)

    for name in ("sentiment", "capitals", "arithmetic", "topics"):
        made = hashlib.sha256((tmp_path / f"{name}.jsonl").read_bytes()).hexdigest()
        shipped = hashlib.sha256((DATA / f"{name}.jsonl").read_bytes()).hexdigest()
        assert made == shipped, f"data/{name}.jsonl differs from what data/make_tasks.py writes"


def test_sentiment_is_balanced_in_both_splits():
    train, dev = dx.datasets.load("sentiment")

    for split in (train, dev):
        labels = [example.sentiment for example in split]
        assert abs(labels.count("positive") - labels.count("negative")) <= len(split) // 5


def test_every_topic_is_named_in_its_review():
    train, dev = dx.datasets.load("topics")

    for example in [*train, *dev]:
        assert example.topic in example.review.lower()


def test_the_answer_metric_forgives_case_accents_punctuation_and_known_aliases():
    metric = dx.datasets.task("capitals").metric
    example = dx.Example(question="What is the capital of Colombia?", answer="Bogota", aliases=[])
    ukraine = dx.Example(question="What is the capital of Ukraine?", answer="Kyiv", aliases=["Kiev"])

    assert metric(example, dx.Prediction(answer="Bogotá."))
    assert metric(example, dx.Prediction(answer="  BOGOTA "))
    assert metric(ukraine, dx.Prediction(answer="Kiev"))
    assert not metric(example, dx.Prediction(answer="Medellin"))
    assert not metric(example, dx.Prediction(reasoning="no answer field"))


def test_load_reads_any_file_in_the_same_format(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text(
        '{"q": "a", "a": "1", "split": "train", "_inputs": ["q"]}\n'
        "\n"
        '{"q": "b", "a": "2", "split": "dev", "_inputs": ["q"]}\n',
        encoding="utf-8",
    )

    train, dev = dx.datasets.load(path)

    assert train == [dx.Example(q="a", a="1").with_inputs("q")]
    assert dev == [dx.Example(q="b", a="2").with_inputs("q")]


def test_data_dir_can_be_moved_with_an_environment_variable(tmp_path, monkeypatch):
    (tmp_path / "sentiment.jsonl").write_text(
        '{"review": "ok", "sentiment": "positive", "split": "dev", "_inputs": ["review"]}\n', encoding="utf-8"
    )
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path))

    train, dev = dx.datasets.load("sentiment")

    assert (train, len(dev)) == ([], 1)


def test_an_unknown_task_lists_the_known_ones():
    with pytest.raises(
        KeyError,
        match=r"no shipped task 'imdb'.*\['animals', 'arithmetic', 'capitals', 'entities', 'language', 'sentiment', "
        r"'topics'\]",
    ):
        dx.datasets.load("imdb")


def test_a_missing_file_says_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path))

    with pytest.raises(FileNotFoundError, match=r"python data/make_tasks.py"):
        dx.datasets.load("capitals")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", r"bad\.jsonl:1: not a JSON object"),
        ("[1, 2]", r"bad\.jsonl:1: each line must be a JSON object"),
        ('{"q": "a", "split": "test", "_inputs": ["q"]}', r"bad\.jsonl:1: 'split' must be one of \['train', 'dev'\]"),
        ('{"q": "a", "split": "dev"}', r"bad\.jsonl:1: '_inputs' must list the input field names"),
        ('{"q": "a", "split": "dev", "_inputs": ["x"]}', r"bad\.jsonl:1: with_inputs: no field\(s\) \['x'\]"),
    ],
)
def test_a_bad_line_is_reported_with_its_file_and_line_number(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n", encoding="utf-8")

    with pytest.raises(ValueError, match=message):
        dx.datasets.load(path)
