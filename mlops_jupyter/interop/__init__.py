"""Moving in from other tools and out to them (today: MLflow).

``mj.import_mlflow("sqlite:///mlflow.db")`` / ``mlops import mlflow SOURCE`` and
``mj.export_mlflow(to="sqlite:///out.db")`` / ``mlops export mlflow --to URI``. MLflow is
an optional extra (``pip install 'mlops-jupyter[mlflow]'``), imported only when one of
these runs. This package sits above ``models`` in the layers: it uses the registry,
tracking and the store, and only the faces use it. See docs/mlflow.md.
"""

from mlops_jupyter.interop.mlflow_export import export_mlflow
from mlops_jupyter.interop.mlflow_import import import_mlflow
from mlops_jupyter.interop.report import TransferReport

__all__ = ["TransferReport", "export_mlflow", "import_mlflow"]
