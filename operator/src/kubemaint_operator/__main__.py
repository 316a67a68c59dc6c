"""``kubemaint-operator``: read the settings (failing fast with one line), configure logging, run kopf."""

from __future__ import annotations

import sys

import kopf

from kubemaint_operator import handlers as handlers  # registers the handlers
from kubemaint_operator.settings import ConfigurationError, configure_logging, load_settings

__all__ = ["main"]


def main() -> None:
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        sys.stderr.write(f"kubemaint-operator: invalid configuration: {exc}\n")
        raise SystemExit(2) from None
    configure_logging(settings)
    kopf.run(
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        standalone=settings.standalone,
        peering_name=None if settings.standalone else settings.peering_name,
        priority=settings.choose_priority(),
        liveness_endpoint=settings.liveness_endpoint or None,
        memo=kopf.Memo(settings=settings),
    )


if __name__ == "__main__":
    main()
