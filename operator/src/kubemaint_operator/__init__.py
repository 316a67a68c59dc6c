"""kubemaint's kopf operator: Maintenance objects -> the etcd key, pod readiness gates, status, events.

Importing the package registers the handlers, so both ``kopf run -m kubemaint_operator`` and the
``kubemaint-operator`` console script (:mod:`kubemaint_operator.__main__`) run the same operator.
"""

from kubemaint_operator import handlers as handlers
