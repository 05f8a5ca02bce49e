"""The topology: the frozen model a TOML file is parsed into (model), its loading and
conversion with errors that name the key and value (load), cross-section checks and `check`,
and the TOML writer that turns a model back into text."""
