"""Programs: the Module base class and the built-in predictors."""
