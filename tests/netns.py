"""The tests' network namespaces: ``benchmarks/netns.py``, which the benchmarks use too."""

from benchmarks.netns import (
    NamespaceUnavailable,
    NetworkNamespace,
    ScenarioFailed,
    network_namespace,
)

__all__ = ["NamespaceUnavailable", "NetworkNamespace", "ScenarioFailed", "network_namespace"]
