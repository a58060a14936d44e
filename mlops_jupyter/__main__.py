from mlops_jupyter.cli import run

run()
