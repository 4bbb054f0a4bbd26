"""`fengqiao demo` (`make demo`): the whole hub on embedded parts, the demo county's script
(`fengqiao.scenario`) published as the agencies would, their systems answering (`agencies`), a summary
(`fengqiao.reporting.demo_tables`), nothing left behind. `run` holds the run."""

from fengqiao.demo.run import run_demo

__all__ = ["run_demo"]
