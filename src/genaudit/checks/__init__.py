"""Built-in checks. Each module holds one check class; the registry imports them lazily."""
