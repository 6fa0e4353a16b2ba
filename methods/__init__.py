"""salbench's method plugins (installed as the ``salbench_methods`` package).

One module per method; each registers itself with
:func:`salbench.plugins.registry.register_method` and is reached through the
``salbench.methods`` entry-point group in ``pyproject.toml``.
"""
