"""The version of jaxscale (its own module, so that library modules can name it without importing the package)."""
__version__ = "0.1.0"
