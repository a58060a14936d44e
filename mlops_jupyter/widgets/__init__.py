"""Interactive ipywidgets panels (with static HTML fallbacks) for notebook displays."""

from mlops_jupyter.widgets.runs import CompareView, RunsView, live_kernel

__all__ = ["CompareView", "RunsView", "live_kernel"]
