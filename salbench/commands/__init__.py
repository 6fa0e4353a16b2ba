"""The command-line commands: each module holds one command's argparse
(``add_arguments``) and a thin ``main`` over the library; :mod:`salbench.cli`
dispatches to them."""
