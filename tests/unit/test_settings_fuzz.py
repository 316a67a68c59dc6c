"""Every environment variable of the service and the operator, fuzzed: whatever text it holds, loading the
settings either fails with one line that names the variable and never shows a secret, or succeeds with
values that the parts behind it (the etcd client) accept too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubemaint_operator.settings import ConfigurationError as OperatorConfigurationError
from kubemaint_operator.settings import OperatorSettings
from kubemaint_operator.settings import load_settings as load_operator_settings
from users_service.settings import ConfigurationError as ServiceConfigurationError
from users_service.settings import Settings
from users_service.settings import load_settings as load_service_settings

SECRETS = {"DB_PASSWORD", "ETCD_PASSWORD", "MAINTENANCE_BYPASS_SECRET"}

# Text a person might type, numbers, URLs and plain noise.
VALUES = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(10**6), max_value=10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["true", "false", "yes", "0", "-1", "65536", "1e309", "30s", "500ms", "http://h:1"]),
    st.builds(
        lambda scheme, host, port: f"{scheme}{host}:{port}",
        st.sampled_from(["", "http://", "https://", "ftp://", "HTTP://"]),
        st.text(min_size=0, max_size=12),
        st.integers(min_value=-5, max_value=100_000),
    ),
)

UNITS: list[tuple[str, type[Any], Callable[[dict[str, str]], Any], type[Exception]]] = [
    ("users-service", Settings, load_service_settings, ServiceConfigurationError),
    ("kubemaint-operator", OperatorSettings, load_operator_settings, OperatorConfigurationError),
]


@pytest.mark.parametrize(("unit", "model", "load", "error"), UNITS, ids=[u[0] for u in UNITS])
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_value_of_any_variable_loads_or_fails_with_one_line_naming_it(
    unit: str, model: type[Any], load: Callable[[dict[str, str]], Any], error: type[Exception], data: Any
) -> None:
    variable = data.draw(
        st.sampled_from(sorted(name.upper() for name in model.model_fields)), label="variable"
    )
    value = data.draw(VALUES, label="value")
    try:
        loaded = load({variable: value})
    except error as exc:
        message = str(exc)
        assert "\n" not in message, message
        assert variable in message, f"{unit}: {message!r} does not name {variable}"
        if variable in SECRETS and len(value) >= 4:
            assert value not in message, f"{unit}: the value of {variable} is shown"
    else:
        loaded.etcd_config()  # what the settings accept, the etcd client accepts too (no late crash)
