"""The prior networks' names and size presets (no torch here: the command lines list them in --help
before anything heavy is imported)."""
MODELS = ("constant", "linear", "mlp", "conv")
SIZES = ("tiny", "small", "medium", "large", "xlarge")
