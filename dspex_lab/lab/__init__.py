"""The Jupyter workbench: widgets and magics on top of the event store."""
