"""What every test tier shares: one way to poll, to read the maintenance value back from etcd, to run
a command line (kubemaint, devstack, kubectl, helm) and to drive an ASGI app in this process.

* :mod:`tests.support.polling`: ``eventually``, ``eventually_async``, ``seconds_until``.
* :mod:`tests.support.etcd_values`: ``value_of``, ``decoded``.
* :mod:`tests.support.cli`: ``run``, ``kubemaint``, ``devstack``, ``kubectl_argv``, ``run_kubectl``, ``Helm``.
* :mod:`tests.support.asgi`: ``exchange``, ``call``, ``lifespan_client``.

Import the module you need (``from tests.support.polling import eventually``); nothing is imported here,
so a unit test that polls does not load httpx or FastAPI. ``pythonpath = ["."]`` in pyproject.toml puts
the checkout on sys.path, so ``tests.support`` imports the same way from every tier.
"""
