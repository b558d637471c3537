"""mavtools.api.config, credentials, env and clouds: environment variables, clouds.yaml + secure.yaml, validation, masked reprs."""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
from pathlib import Path

import pytest

from mavtools.api.auth import AkSkAuth, TokenAuth
from mavtools.api.config import (
    DEFAULT_ENDPOINT_TEMPLATE,
    endpoint_for_region,
    validate_endpoint,
    validate_project_id,
)
from mavtools.api.credentials import Credentials, Settings
from mavtools.api.env import settings_from_env
from mavtools.api.iam import PasswordAuth
from mavtools.errors import ConfigError

EP = "https://modelarts.eu-de.otc.t-systems.com"
PID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
SECRET = "S3cr3t-Value-xyz"


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory and home, so no real clouds.yaml is found."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path


def env(home: Path, **values: str) -> dict[str, str]:
    return {"HOME": str(home / "home"), **values}


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a", "0a1b2c", PID, "A-b-0", "x" * 64])
def test_valid_project_ids(value):
    assert validate_project_id(value) == value


@pytest.mark.parametrize(
    "value",
    ["", "x" * 65, "ab/cd", "..", "a.b", "a b", "a\nb", "ab\n", "a?b", "a#b", "é", None, 123],
)
def test_invalid_project_ids(value):
    with pytest.raises(ConfigError, match="project id"):
        validate_project_id(value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (EP, EP),
        (EP + "/", EP),
        ("HTTPS://ModelArts.EU-DE.otc.t-systems.com", EP),
        ("https://modelarts.eu-de.otc.t-systems.com:8443", EP + ":8443"),
        ("https://10.0.0.1", "https://10.0.0.1"),
        ("https://[::1]:9000", "https://[::1]:9000"),
    ],
)
def test_valid_endpoints(url, expected):
    assert validate_endpoint(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "",
        "modelarts.eu-de.otc.t-systems.com",
        "ftp://modelarts.eu-de.otc.t-systems.com",
        EP + "/v1",
        EP + "/..",
        EP + "/../x",
        EP + "?a=1",
        EP + "?",
        EP + "#frag",
        EP + "#",
        "https://user:pw@modelarts.eu-de.otc.t-systems.com",
        "https://modelarts.eu-de.otc.t-systems.com:99999",
        "https://modelarts.eu-de.otc.t-systems.com:0",
        "https://modelarts.eu-de.otc.t-systems.com:x",
        "https://",
        "https://modelarts..otc.t-systems.com",
        "https://-bad.example",
        "https://bad_host.example",
        " https://modelarts.eu-de.otc.t-systems.com",
        "https://modelarts.eu-de.otc.t-systems.com ",
        "https://modelarts.eu-de .otc.t-systems.com",
        "https://modelarts.eu-de.otc.t-systems.com\n",
        "https://modelarts.eu-de.otc.t-systems.com\x00",
        "https://modelarts.eu-de.otc.t-systems.com\t",
        "https://modelarts\x7f.example",
        "https://[::1",
        "https://[zz::1]",
    ],
)
def test_invalid_endpoints(url):
    with pytest.raises(ConfigError):
        validate_endpoint(url)


def test_userinfo_password_is_not_echoed():
    with pytest.raises(ConfigError) as info:
        validate_endpoint(f"https://alice:{SECRET}@modelarts.eu-de.otc.t-systems.com")
    assert SECRET not in str(info.value)


def test_http_only_when_allowed():
    with pytest.raises(ConfigError, match="https"):
        validate_endpoint("http://127.0.0.1:8080")
    assert validate_endpoint("http://127.0.0.1:8080/", allow_http=True) == "http://127.0.0.1:8080"


def test_endpoint_for_region():
    assert endpoint_for_region("eu-de") == EP
    assert endpoint_for_region("eu-de") == DEFAULT_ENDPOINT_TEMPLATE.format(region="eu-de")
    assert (
        endpoint_for_region("cn-north-4", domain="myhuaweicloud.com")
        == "https://modelarts.cn-north-4.myhuaweicloud.com"
    )
    for bad in ("", "eu de", "eu/de", "../x", "EU-DE"):
        with pytest.raises(ConfigError):
            endpoint_for_region(bad)
    with pytest.raises(ConfigError):
        endpoint_for_region("eu-de", domain="a/b")


# -- plain data --------------------------------------------------------------------------------


def test_credentials_repr_hides_secrets():
    kinds = [
        Credentials.from_token(SECRET),
        Credentials.from_aksk("AKIDEXAMPLE", SECRET),
        Credentials.from_password("https://iam.example/v3", "alice", SECRET, "dom", PID),
    ]
    for credentials in kinds:
        for text in (repr(credentials), str(credentials), repr(Settings(EP, PID, credentials))):
            assert SECRET not in text
            assert "***" in text
    assert "AKIDE" not in repr(kinds[1]) and "AKID" in repr(kinds[1])


def test_credentials_are_frozen_and_validated():
    credentials = Credentials.from_token("t")
    with pytest.raises(dataclasses.FrozenInstanceError):
        credentials.token = "u"  # type: ignore[misc]
    with pytest.raises(ConfigError, match="sk"):
        Credentials("aksk", ak="a")
    with pytest.raises(ConfigError, match="project"):
        Credentials.from_password("https://iam.example/v3", "u", "p", "d")
    with pytest.raises(ConfigError, match="kind"):
        Credentials("magic")  # type: ignore[arg-type]


def test_to_auth_builds_the_auth_objects():
    assert isinstance(Credentials.from_token("t").to_auth(), TokenAuth)
    assert isinstance(Credentials.from_aksk("a", "s").to_auth(), AkSkAuth)
    auth = Credentials.from_password(
        "https://iam.example/v3", "u", "p", "d", project_name="eu-de"
    ).to_auth()
    assert isinstance(auth, PasswordAuth)


def test_settings_validate_and_normalise():
    token = Credentials.from_token("t")
    assert Settings(EP + "/", PID, token).endpoint == EP
    assert Settings("http://127.0.0.1:5000", PID, token).endpoint == "http://127.0.0.1:5000"
    with pytest.raises(ConfigError, match="https"):
        Settings("http://modelarts.example", PID, token)
    with pytest.raises(ConfigError, match="project id"):
        Settings(EP, "a/b", token)
    with pytest.raises(ConfigError, match="project id"):
        Settings(EP, None, token)
    with pytest.raises(ConfigError, match="region"):
        Settings(EP, PID, token, region="eu de")
    by_name = Credentials.from_password("https://iam.example/v3", "u", "p", "d", project_name="x")
    assert Settings(EP, None, by_name).project_id is None


# -- environment variables ---------------------------------------------------------------------


def test_nothing_configured_gives_none(isolated):
    assert settings_from_env(env(isolated)) is None
    assert settings_from_env(env(isolated, OS_REGION_NAME="eu-de")) is None


def test_token_from_env(isolated):
    s = settings_from_env(
        env(isolated, MODELARTS_ENDPOINT=EP + "/", MODELARTS_PROJECT_ID=PID, MODELARTS_TOKEN="t")
    )
    assert s == Settings(EP, PID, Credentials.from_token("t"))


def test_aksk_from_env_with_region(isolated):
    s = settings_from_env(
        env(
            isolated,
            MODELARTS_AK="AK1",
            MODELARTS_SK="SK1",
            OS_REGION_NAME="eu-nl",
            OS_PROJECT_ID=PID,
        )
    )
    assert s is not None
    assert s.endpoint == "https://modelarts.eu-nl.otc.t-systems.com"
    assert s.credentials == Credentials.from_aksk("AK1", "SK1")
    assert (s.project_id, s.region) == (PID, "eu-nl")


def test_loopback_http_endpoint_from_env(isolated):
    s = settings_from_env(
        env(
            isolated,
            MODELARTS_ENDPOINT="http://127.0.0.1:8000",
            MODELARTS_PROJECT_ID=PID,
            MODELARTS_TOKEN="t",
        )
    )
    assert s is not None and s.endpoint == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"MODELARTS_AK": "AK1", "MODELARTS_ENDPOINT": EP, "MODELARTS_PROJECT_ID": PID}, "SK"),
        ({"MODELARTS_SK": SECRET, "MODELARTS_ENDPOINT": EP, "MODELARTS_PROJECT_ID": PID}, "AK"),
        ({"MODELARTS_TOKEN": SECRET, "MODELARTS_AK": "a", "MODELARTS_SK": "b"}, "only one"),
        ({"MODELARTS_TOKEN": SECRET, "MODELARTS_PROJECT_ID": PID}, "MODELARTS_ENDPOINT"),
        ({"MODELARTS_TOKEN": SECRET, "MODELARTS_ENDPOINT": EP}, "MODELARTS_PROJECT_ID"),
        ({"MODELARTS_ENDPOINT": EP, "MODELARTS_PROJECT_ID": PID}, "no credentials"),
        ({"MODELARTS_PROJECT_ID": PID}, "no credentials"),
        (
            {"MODELARTS_TOKEN": SECRET, "MODELARTS_ENDPOINT": "http://modelarts.example"},
            "https",
        ),
        (
            {
                "MODELARTS_TOKEN": SECRET,
                "MODELARTS_ENDPOINT": EP + "/v1",
                "MODELARTS_PROJECT_ID": PID,
            },
            "path",
        ),
        (
            {"MODELARTS_TOKEN": SECRET, "MODELARTS_ENDPOINT": EP, "MODELARTS_PROJECT_ID": "a/b"},
            "project id",
        ),
        ({"OS_USERNAME": "alice", "OS_PASSWORD": SECRET}, "OS_AUTH_URL"),
        (
            {
                "OS_AUTH_URL": "https://iam.eu-de.otc.t-systems.com/v3",
                "OS_USERNAME": "alice",
                "OS_PASSWORD": SECRET,
            },
            "OS_USER_DOMAIN_NAME",
        ),
        (
            {
                "OS_AUTH_URL": "https://iam.eu-de.otc.t-systems.com/v3",
                "OS_USERNAME": "alice",
                "OS_PASSWORD": SECRET,
                "OS_USER_DOMAIN_NAME": "dom",
                "OS_REGION_NAME": "eu-de",
            },
            "OS_PROJECT",
        ),
        (
            {
                "OS_AUTH_URL": "https://iam.eu-de.otc.t-systems.com/v3",
                "OS_USERNAME": "alice",
                "OS_PASSWORD": SECRET,
                "OS_USER_DOMAIN_NAME": "dom",
                "OS_PROJECT_ID": PID,
            },
            "OS_REGION_NAME",
        ),
        (
            {
                "OS_AUTH_URL": "http://iam.example/v3",
                "OS_USERNAME": "alice",
                "OS_PASSWORD": SECRET,
                "OS_USER_DOMAIN_NAME": "dom",
                "OS_PROJECT_ID": PID,
                "OS_REGION_NAME": "eu-de",
            },
            "https",
        ),
        ({"OS_CLOUD": "otc"}, "no clouds.yaml"),
    ],
)
def test_half_configured_env_raises_without_secrets(isolated, values, message):
    with pytest.raises(ConfigError, match=message) as info:
        settings_from_env(env(isolated, **values))
    assert SECRET not in str(info.value)


def test_os_vars_like_the_openstack_cli(isolated):
    s = settings_from_env(
        env(
            isolated,
            OS_AUTH_URL="https://iam.eu-de.otc.t-systems.com/v3/",
            OS_USERNAME="alice",
            OS_PASSWORD=SECRET,
            OS_USER_DOMAIN_NAME="OTC-EU-DE-0001",
            OS_PROJECT_NAME="eu-de_team",
            OS_REGION_NAME="eu-de",
        )
    )
    assert s is not None
    assert s.endpoint == EP and s.region == "eu-de" and s.project_id is None
    c = s.credentials
    assert (c.kind, c.auth_url, c.username, c.password, c.domain_name, c.project_name) == (
        "password",
        "https://iam.eu-de.otc.t-systems.com/v3",
        "alice",
        SECRET,
        "OTC-EU-DE-0001",
        "eu-de_team",
    )
    assert SECRET not in repr(s)


def test_os_vars_with_project_id_and_endpoint_override(isolated):
    s = settings_from_env(
        env(
            isolated,
            OS_AUTH_URL="https://iam.eu-de.otc.t-systems.com/v3",
            OS_USERNAME="alice",
            OS_PASSWORD=SECRET,
            OS_USER_DOMAIN_NAME="dom",
            OS_PROJECT_ID=PID,
            MODELARTS_ENDPOINT="https://modelarts.example.org",
        )
    )
    assert s is not None
    assert (s.endpoint, s.project_id, s.credentials.project_id) == (
        "https://modelarts.example.org",
        PID,
        PID,
    )


def test_uses_os_environ_by_default(isolated, monkeypatch):
    for name in list(os.environ):
        if name.startswith(("MODELARTS_", "OS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(isolated / "home"))
    assert settings_from_env() is None
    monkeypatch.setenv("MODELARTS_TOKEN", "t")
    monkeypatch.setenv("MODELARTS_ENDPOINT", EP)
    monkeypatch.setenv("MODELARTS_PROJECT_ID", PID)
    assert settings_from_env() == Settings(EP, PID, Credentials.from_token("t"))


# -- clouds.yaml ---------------------------------------------------------------------------------

CLOUDS = f"""
clouds:
  otc:
    profile: otc
    region_name: eu-de
    auth:
      auth_url: https://iam.eu-de.otc.t-systems.com/v3
      username: alice
      user_domain_name: OTC-EU-DE-0001
      project_id: {PID}
  byname:
    region_name: eu-nl
    auth:
      auth_url: https://iam.eu-nl.otc.t-systems.com/v3
      username: bob
      password: "{SECRET}"
      domain_name: OTC-EU-DE-0002
      project_name: eu-nl_team
  keys:
    auth_type: aksk
    region_name: eu-de
    auth:
      ak: AKFROMYAML
      project_id: {PID}
  vendor:
    profile: otc
    region_name: eu-ch2
    auth:
      username: carol
      password: "{SECRET}"
      user_domain_name: dom
      project_id: {PID}
  noregion:
    auth:
      auth_url: https://iam.eu-de.otc.t-systems.com/v3
      username: alice
      password: "{SECRET}"
      user_domain_name: dom
      project_id: {PID}
  numeric:
    region_name: eu-de
    auth:
      auth_url: https://iam.eu-de.otc.t-systems.com/v3
      username: alice
      password: 0123
      user_domain_name: dom
      project_id: {PID}
  kerberos:
    auth_type: v3oidcpassword
    region_name: eu-de
    auth: {{}}
"""

SECURE = f"""
clouds:
  otc:
    auth:
      password: "{SECRET}"
  keys:
    auth:
      sk: "{SECRET}"
"""


def write_config(directory: Path, secure: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "clouds.yaml").write_text(CLOUDS)
    if secure:
        (directory / "secure.yaml").write_text(SECURE)
    return directory / "clouds.yaml"


def test_clouds_yaml_merged_with_secure_yaml(isolated):
    path = write_config(isolated / "cfg")
    s = settings_from_env(env(isolated, OS_CLOUD="otc", OS_CLIENT_CONFIG_FILE=str(path)))
    assert s is not None
    assert (s.endpoint, s.project_id, s.region) == (EP, PID, "eu-de")
    assert s.credentials == Credentials.from_password(
        "https://iam.eu-de.otc.t-systems.com/v3", "alice", SECRET, "OTC-EU-DE-0001", PID
    )


def test_clouds_yaml_project_name_and_domain_name(isolated):
    path = write_config(isolated / "cfg")
    s = settings_from_env(env(isolated, OS_CLOUD="byname", OS_CLIENT_CONFIG_FILE=str(path)))
    assert s is not None
    assert s.endpoint == "https://modelarts.eu-nl.otc.t-systems.com"
    assert s.project_id is None
    assert s.credentials.project_name == "eu-nl_team"
    assert s.credentials.domain_name == "OTC-EU-DE-0002"
    # MODELARTS_PROJECT_ID names the project for the URL when the token is scoped by name
    s = settings_from_env(
        env(isolated, OS_CLOUD="byname", OS_CLIENT_CONFIG_FILE=str(path), MODELARTS_PROJECT_ID=PID)
    )
    assert s is not None and s.project_id == PID


def test_clouds_yaml_aksk_profile(isolated):
    path = write_config(isolated / "cfg")
    s = settings_from_env(env(isolated, OS_CLOUD="keys", OS_CLIENT_CONFIG_FILE=str(path)))
    assert s is not None
    assert s.credentials == Credentials.from_aksk("AKFROMYAML", SECRET)
    assert s.project_id == PID


def test_clouds_yaml_otc_profile_derives_iam(isolated):
    path = write_config(isolated / "cfg")
    s = settings_from_env(env(isolated, OS_CLOUD="vendor", OS_CLIENT_CONFIG_FILE=str(path)))
    assert s is not None
    assert s.credentials.auth_url == "https://iam.eu-ch2.otc.t-systems.com/v3"
    assert s.endpoint == "https://modelarts.eu-ch2.otc.t-systems.com"


def test_modelarts_endpoint_overrides_the_region(isolated):
    path = write_config(isolated / "cfg")
    s = settings_from_env(
        env(
            isolated,
            OS_CLOUD="noregion",
            OS_CLIENT_CONFIG_FILE=str(path),
            MODELARTS_ENDPOINT="https://modelarts.example.org",
        )
    )
    assert s is not None and s.endpoint == "https://modelarts.example.org" and s.region is None


def test_search_order_cwd_before_user_config(isolated):
    home = isolated / "home"
    write_config(home / ".config" / "openstack")
    (Path.cwd() / "clouds.yaml").write_text(
        "clouds:\n  otc:\n    auth_type: token\n    region_name: eu-nl\n"
        f"    auth:\n      token: tok\n      project_id: {PID}\n"
    )
    s = settings_from_env(env(isolated, OS_CLOUD="otc"))
    assert s is not None and s.credentials == Credentials.from_token("tok")
    (Path.cwd() / "clouds.yaml").unlink()
    s = settings_from_env(env(isolated, OS_CLOUD="otc"))
    assert s is not None and s.credentials.kind == "password"
    assert s.credentials.password == SECRET  # secure.yaml beside the user clouds.yaml
    # XDG_CONFIG_HOME adds a user directory before ~/.config/openstack, which openstacksdk
    # still reads (its UNIX_CONFIG_HOME)
    s = settings_from_env(env(isolated, OS_CLOUD="otc", XDG_CONFIG_HOME=str(isolated / "x")))
    assert s is not None and s.credentials.password == SECRET
    (isolated / "x" / "openstack").mkdir(parents=True)
    (isolated / "x" / "openstack" / "clouds.yml").write_text(
        "clouds:\n  otc:\n    auth_type: token\n    region_name: eu-nl\n"
        f"    auth:\n      token: xdg\n      project_id: {PID}\n"
    )
    s = settings_from_env(env(isolated, OS_CLOUD="otc", XDG_CONFIG_HOME=str(isolated / "x")))
    assert s is not None and s.credentials == Credentials.from_token("xdg")


def test_explicit_secure_file(isolated):
    path = write_config(isolated / "cfg", secure=False)
    other = isolated / "vault" / "secure.yaml"
    other.parent.mkdir()
    other.write_text(SECURE)
    s = settings_from_env(
        env(
            isolated,
            OS_CLOUD="otc",
            OS_CLIENT_CONFIG_FILE=str(path),
            OS_CLIENT_SECURE_FILE=str(other),
        )
    )
    assert s is not None and s.credentials.password == SECRET


@pytest.mark.parametrize(
    ("cloud", "secure", "message"),
    [
        ("missing", True, r"OS_CLOUD names 'missing'.*no such cloud \(it has: byname, "),
        ("otc", False, "password"),
        ("keys", False, "sk"),
        ("noregion", True, "region_name"),
        ("numeric", True, "quotes"),
        ("kerberos", True, "auth_type"),
    ],
)
def test_half_configured_clouds_yaml(isolated, cloud, secure, message):
    path = write_config(isolated / "cfg", secure=secure)
    with pytest.raises(ConfigError, match=message) as info:
        settings_from_env(env(isolated, OS_CLOUD=cloud, OS_CLIENT_CONFIG_FILE=str(path)))
    assert SECRET not in str(info.value)


def test_missing_config_file(isolated):
    with pytest.raises(ConfigError, match="does not exist"):
        settings_from_env(env(isolated, OS_CLOUD="otc", OS_CLIENT_CONFIG_FILE="/nonexistent.yaml"))


def test_broken_yaml_does_not_quote_the_file(isolated):
    path = isolated / "clouds.yaml"
    path.write_text(f"clouds:\n  otc:\n    auth: {{password: {SECRET}: [\n")
    with pytest.raises(ConfigError, match="not valid YAML at line") as info:
        settings_from_env(env(isolated, OS_CLOUD="otc", OS_CLIENT_CONFIG_FILE=str(path)))
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_import_has_no_side_effects(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    opened: list[str] = []
    real_open = open

    def spy(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spy)
    modules = ["mavtools.api." + name for name in ("config", "credentials", "clouds", "env")]
    saved = {name: sys.modules.pop(name) for name in modules if name in sys.modules}
    try:
        for name in modules:
            importlib.import_module(name)
    finally:
        sys.modules.update(saved)
    assert not [name for name in opened if "yaml" in name or "openstack" in name]
    assert list(tmp_path.iterdir()) == []


def test_missing_explicit_secure_file(isolated):
    path = write_config(isolated / "cfg", secure=False)
    with pytest.raises(ConfigError, match="OS_CLIENT_SECURE_FILE"):
        settings_from_env(
            env(
                isolated,
                OS_CLOUD="otc",
                OS_CLIENT_CONFIG_FILE=str(path),
                OS_CLIENT_SECURE_FILE=str(isolated / "none.yaml"),
            )
        )


# -- real-shaped clouds.yaml of both clouds (issue 10) ------------------------------------------

REAL_CLOUDS = """
clouds:
  otc-prod:
    profile: otc
    auth:
      username: 'alice.analytics'
      user_domain_name: 'OTC00000000001000012345'
      project_name: 'eu-de_analytics'
    interface: 'public'
    identity_api_version: 3
  hwc:
    auth:
      auth_url: https://iam.ap-southeast-1.myhuaweicloud.com/v3
      username: 'bob'
      user_domain_name: 'hwc_team_domain'
      project_name: 'ap-southeast-1'
    region_name: ap-southeast-1
    interface: 'public'
    identity_api_version: 3
  hwc-global-iam:
    auth_type: aksk
    auth:
      auth_url: https://iam.myhuaweicloud.com/v3
      project_id: 0a1b2c3d4e5f60718293a4b5c6d7e8f9
    regions:
      - name: cn-north-4
"""

REAL_SECURE = f"""
clouds:
  otc-prod:
    auth:
      password: '{SECRET}'
  hwc:
    auth:
      password: '{SECRET}'
  hwc-global-iam:
    auth:
      ak: 'AKHWC0000000000000'
      sk: '{SECRET}'
"""


@pytest.fixture
def real_clouds(isolated: Path) -> Path:
    """clouds.yaml + secure.yaml in ~/.config/openstack, as the OpenStack SDK looks for them."""
    directory = isolated / "home" / ".config" / "openstack"
    directory.mkdir(parents=True)
    (directory / "clouds.yaml").write_text(REAL_CLOUDS)
    (directory / "secure.yaml").write_text(REAL_SECURE)
    return isolated


@pytest.mark.parametrize(
    ("extra", "region"),
    [({}, "eu-de"), ({"OS_REGION_NAME": "eu-nl"}, "eu-nl")],
    ids=["vendor-default", "OS_REGION_NAME"],
)
def test_otc_profile_without_region_takes_os_region_name_then_the_vendor_default(
    real_clouds, extra, region
):
    s = settings_from_env(env(real_clouds, OS_CLOUD="otc-prod", **extra))
    assert s is not None
    assert s.region == region
    assert s.endpoint == f"https://modelarts.{region}.otc.t-systems.com"
    assert s.credentials.auth_url == f"https://iam.{region}.otc.t-systems.com/v3"
    assert s.credentials.password == SECRET  # from secure.yaml
    assert s.credentials.project_name == "eu-de_analytics"


def test_a_region_in_the_cloud_wins_over_os_region_name(real_clouds):
    s = settings_from_env(env(real_clouds, OS_CLOUD="hwc", OS_REGION_NAME="eu-de"))
    assert s is not None and s.region == "ap-southeast-1"


def test_huawei_cloud_profiles_reach_huawei_cloud_modelarts(real_clouds):
    s = settings_from_env(env(real_clouds, OS_CLOUD="hwc"))
    assert s is not None
    assert s.endpoint == "https://modelarts.ap-southeast-1.myhuaweicloud.com"
    assert s.credentials.auth_url == "https://iam.ap-southeast-1.myhuaweicloud.com/v3"
    s = settings_from_env(env(real_clouds, OS_CLOUD="hwc-global-iam"))
    assert s is not None
    assert s.endpoint == "https://modelarts.cn-north-4.myhuaweicloud.com"
    assert s.credentials == Credentials.from_aksk("AKHWC0000000000000", SECRET)


def test_modelarts_project_id_scopes_the_token_too(real_clouds):
    s = settings_from_env(env(real_clouds, OS_CLOUD="otc-prod", MODELARTS_PROJECT_ID=PID))
    assert s is not None
    assert s.project_id == PID
    # The token is asked for that project, not for the project named in clouds.yaml.
    assert s.credentials.project_id == PID and s.credentials.project_name is None


def test_modelarts_project_id_scopes_the_token_over_http(isolated, start_server):
    """End to end: the IAM request carries the overriding project id, and the listing works."""
    from mavtools.api.client import Client
    from tests.conftest import PROJECT

    server = start_server([], token=None, users={("dom", "alice"): SECRET})
    directory = isolated / "cfg"
    directory.mkdir()
    (directory / "clouds.yaml").write_text(
        "clouds:\n  local:\n    auth:\n"
        f"      auth_url: {server.url}/v3\n      username: alice\n      user_domain_name: dom\n"
        "      project_id: ffffffffffffffffffffffffffffffff\n"
    )
    (directory / "secure.yaml").write_text(
        f"clouds:\n  local:\n    auth:\n      password: {SECRET}\n"
    )
    environ = env(
        isolated,
        OS_CLOUD="local",
        OS_CLIENT_CONFIG_FILE=str(directory / "clouds.yaml"),
        MODELARTS_ENDPOINT=server.url,
        MODELARTS_PROJECT_ID=PROJECT,
    )
    Client.from_env(environ, allow_http=True).list_versions()
    assert server.api.iam_scopes == [{"id": PROJECT}]
