"""Sources of mentions. Each source is one module; ``registry`` lists them."""
