"""Reports from the public about a listed signature."""
