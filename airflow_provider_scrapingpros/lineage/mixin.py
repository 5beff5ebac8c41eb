"""What every lineage mixin shares: the task's return value, kept for `..._on_complete`.

The OpenLineage provider calls the lineage methods after the task finished, often in a forked child,
with only the task instance: no return value and no safe way back to the XCom. So the mixin keeps the
value as the task runner hands it to `post_execute` hooks, on every path that returns one (`execute`,
and `execute_complete` after a deferral), chaining any `post_execute` the DAG author passed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..hooks.scrapingpros import ScrapingProsHook


class LineageMixin:
    _post_execute_hook: Any  # BaseOperator's, set from its `post_execute` argument
    _lineage_result: Any

    if TYPE_CHECKING:
        hook: ScrapingProsHook

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lineage_result = None
        self._lineage_chained = self._post_execute_hook
        self._post_execute_hook = _keep_result

    def _api_base_url(self) -> str:
        # the hook the task used (cached): no second connection look-up after execute()
        return self.hook.base_url


def _keep_result(context: Any, result: Any = None) -> None:
    # A function, not a bound method: Airflow copies operators (hooks shallowly), and the task that
    # runs, which the OpenLineage listener reads, is the one in the context.
    task = context["task"]
    task._lineage_result = result
    if (chained := getattr(task, "_lineage_chained", None)) is not None:
        chained(context, result)
