"""deepwas_dist.cli: the KEY=VALUE parser types its values; errors name the flag."""
from __future__ import annotations

import pytest

from deepwas_dist.cli import key_values
from deepwas_dist.errors import InputError


def test_storage_option_values_are_typed():
    got = key_values(["anon=false", "use_ssl=True", "max_concurrency=8", "timeout=2.5", "token=none",
                      "endpoint_url=http://127.0.0.1:9000/a=b", "region_name=eu-west-1", "version=127.0.0.1"])
    assert got == {"anon": False, "use_ssl": True, "max_concurrency": 8, "timeout": 2.5, "token": "none",
                   "endpoint_url": "http://127.0.0.1:9000/a=b", "region_name": "eu-west-1",
                   "version": "127.0.0.1"}
    assert got["anon"] is False and isinstance(got["max_concurrency"], int)
    assert key_values(["cache=null"]) == {"cache": None}
    assert key_values(["x=nan"]) == {"x": "nan"}


def test_credentials_stay_strings():
    assert key_values(["key=12345", "secret=true", "password=007"]) == {"key": "12345", "secret": "true",
                                                                       "password": "007"}


def test_an_item_without_equals_names_the_flag():
    with pytest.raises(InputError, match="--input-storage-option takes KEY=VALUE"):
        key_values(["anon"], "--input-storage-option")
    with pytest.raises(InputError, match="--storage-option"):
        key_values(["=x"])
