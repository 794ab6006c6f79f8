"""The check registry."""

from __future__ import annotations

import pytest

from genaudit.errors import ConfigError, UnknownCheckError
from genaudit.registry import create_check, get_check_class, list_checks, register_check


def test_builtins_are_listed_with_descriptions() -> None:
    specs = {s.name: s for s in list_checks()}
    assert {"metadata", "phash"} <= set(specs)
    assert all(s.description for s in specs.values())
    for name in ("metadata", "phash"):
        assert get_check_class(name).name == name


def test_unknown_names_suggest_the_closest() -> None:
    with pytest.raises(UnknownCheckError, match="did you mean 'metadata'"):
        get_check_class("metdata")
    with pytest.raises(UnknownCheckError, match="available: "):
        get_check_class("zzzzzz")


def test_registration_rules() -> None:
    with pytest.raises(ConfigError, match="built-in"):
        register_check("phash", "x:y", "taken")
    with pytest.raises(ConfigError, match="module:Class"):
        register_check("newcheck", "no_colon_here", "bad target")


def test_options_are_validated_per_check() -> None:
    check = create_check("phash", {"hashes": "phash,whash", "hash_size": 16})
    assert check.params() == {"hashes": ("phash", "whash"), "hash_size": 16}
    with pytest.raises(ConfigError, match="power of two"):
        create_check("phash", {"hashes": ["whash"], "hash_size": 12})
    with pytest.raises(ConfigError, match="did you mean 'hashes'"):
        create_check("phash", {"hashs": ["phash"]})
