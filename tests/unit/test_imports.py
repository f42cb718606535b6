"""What a process pays to start (qa/imports.py): chromadb without its development-time override checks, and its
span exporter (gRPC, protobuf) and its schema checks (jsonschema) imported only when used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _fresh_process(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`script` run by a new Python (nothing imported yet), its output captured."""
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=cwd, check=True)


# A fresh process: count the signature checks of `overrides` while the store is imported and a local client
# opened, then check that the decorator is the real one again and that chromadb's classes still carry the mark
# its EnforceOverrides classes look for.
_CHECKED = """
import sys, tempfile
import overrides, overrides.overrides
module = sys.modules["overrides.overrides"]
real, checks = overrides.override, []
validate = module._validate_method
module._validate_method = lambda *args: (checks.append(args[0].__qualname__), validate(*args))[1]
from qa.settings import Settings
from qa.wiring import chroma_client
client, _ = chroma_client(Settings(data_dir=tempfile.mkdtemp()))
client.heartbeat()
from chromadb.api.rust import RustBindingsAPI
print(len(checks), overrides.override is real, getattr(RustBindingsAPI.heartbeat, "__override__", False))
"""


def test_opening_the_store_skips_chromadbs_override_checks_and_leaves_the_decorator_as_it_was(tmp_path: Path) -> None:
    done = _fresh_process(_CHECKED, tmp_path)
    assert done.stdout.split() == ["0", "True", "True"], done.stdout + done.stderr


# What the next scripts begin with: the store's client opened on local files in a fresh process.
_OPEN_STORE = """
import sys, tempfile
from qa.settings import Settings
from qa.wiring import chroma_client
client, _ = chroma_client(Settings(data_dir=tempfile.mkdtemp()))
client.heartbeat()
"""


# A fresh process: open the store and a local client, then check that gRPC was never imported, that the stand-in
# left sys.modules, and that chromadb's exporter name still makes the real exporter.
_EXPORTER = (
    _OPEN_STORE
    + """
name = "opentelemetry.exporter.otlp.proto.grpc.trace_exporter"
print("grpc" in sys.modules, name in sys.modules)
import chromadb.telemetry.opentelemetry as tracing
exporter = tracing.OTLPSpanExporter(endpoint="http://127.0.0.1:9")
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
print(isinstance(exporter, OTLPSpanExporter))
exporter.shutdown()
"""
)


def test_opening_the_store_imports_no_grpc_and_chromadbs_exporter_is_the_real_one_when_made(tmp_path: Path) -> None:
    done = _fresh_process(_EXPORTER, tmp_path)
    assert done.stdout.split() == ["False", "False", "True"], done.stdout + done.stderr


# A fresh process: open the store and a local client, then check that jsonschema was never imported and the stand-in
# left sys.modules, that the schema registry finds chromadb's schemas where the real module says they are, and that
# a check made through what chromadb imported runs the real one (a good configuration passes, a bad one fails).
_SCHEMAS = (
    _OPEN_STORE
    + """
name = "chromadb.utils.embedding_functions.schemas.schema_utils"
print("jsonschema" in sys.modules, name in sys.modules)
from chromadb.utils.embedding_functions.schemas import get_available_schemas, validate_config_schema
print("openai" in get_available_schemas())
validate_config_schema({"model_name": "text-embedding-3-small", "api_key_env_var": "KEY"}, "openai")
import jsonschema
try:
    validate_config_schema({"model_name": 3}, "openai")
    print("unchecked")
except jsonschema.ValidationError:
    print("checked")
from chromadb.utils.embedding_functions.schemas.schema_utils import SCHEMAS_DIR
from chromadb.utils.embedding_functions.schemas import registry
print(registry.SCHEMAS_DIR == SCHEMAS_DIR)
"""
)


def test_opening_the_store_imports_no_jsonschema_and_chromadbs_schema_checks_are_the_real_ones_when_made(
    tmp_path: Path,
) -> None:
    done = _fresh_process(_SCHEMAS, tmp_path)
    assert done.stdout.split() == ["False", "False", "True", "checked", "True"], done.stdout + done.stderr


# A fresh process: the settings read with the default rate limit import no rate limiter; a limit set is checked.
_RATES = """
import sys
from qa.settings import DEFAULT_RATE_LIMIT, Settings
Settings()
print("limits" in sys.modules)
from limits import parse
print(parse(DEFAULT_RATE_LIMIT).amount)
try:
    Settings(rate_limit="lots")
    print("unchecked")
except ValueError as error:
    print("QA_RATE_LIMIT" in str(error) and "600/minute" in str(error))
"""


def test_the_default_rate_limit_imports_no_rate_limiter_and_parses_and_a_limit_set_is_checked(tmp_path: Path) -> None:
    done = _fresh_process(_RATES, tmp_path)
    assert done.stdout.split() == ["False", "600", "True"], done.stdout + done.stderr
