"""mavtools.api.clouds finds and merges clouds.yaml, secure.yaml and clouds-public.yaml as openstacksdk.

The reference is ``openstack.config`` itself (a test dependency), run on the same files in a
temporary home and working directory. It runs in a subprocess because openstacksdk computes its
search path (cwd, ``~``, ``$XDG_CONFIG_HOME``) once, when it is imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mavtools.api.env import settings_from_env

pytest.importorskip(
    "openstack.config", reason="openstacksdk is a test dependency: pip install -e '.[test]'"
)

PID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"

_REFERENCE = """
import json, sys, warnings
warnings.simplefilter("ignore")
import openstack.config

region = openstack.config.OpenStackConfig().get_one(cloud=sys.argv[1])
auth = region.config["auth"]
print(json.dumps({
    "region": region.region_name,
    "auth_url": auth.get("auth_url"),
    "username": auth.get("username"),
    "password": auth.get("password"),
    "domain_name": auth.get("user_domain_name") or auth.get("domain_name"),
    "project_id": auth.get("project_id"),
    "project_name": auth.get("project_name"),
}))
"""


def openstacksdk(cloud: str, environ: dict[str, str], cwd: Path) -> dict[str, str | None]:
    """What openstacksdk resolves for ``cloud`` with ``environ`` in ``cwd``."""
    done = subprocess.run(
        [sys.executable, "-c", _REFERENCE, cloud],
        env={"PATH": "/usr/bin:/bin", **environ},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def mavtools(cloud: str, environ: dict[str, str]) -> dict[str, str | None]:
    """The same facts as mavtools resolves them (run with the working directory set)."""
    settings = settings_from_env({**environ, "OS_CLOUD": cloud})
    assert settings is not None
    creds = settings.credentials
    return {
        "region": settings.region,
        "auth_url": creds.auth_url,
        "username": creds.username,
        "password": creds.password,
        "domain_name": creds.domain_name,
        "project_id": creds.project_id,
        "project_name": creds.project_name,
    }


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """An empty home, user config directory and working directory (the current one)."""
    home, work = tmp_path / "home", tmp_path / "work"
    user = home / ".config" / "openstack"
    for directory in (user, work):
        directory.mkdir(parents=True)
    monkeypatch.chdir(work)
    return {"home": home, "user": user, "work": work, "tmp": tmp_path}


def both(place: dict[str, Path], cloud: str, **variables: str) -> tuple[dict, dict]:
    environ = {"HOME": str(place["home"]), **variables}
    return mavtools(cloud, environ), openstacksdk(cloud, environ, place["work"])


CLOUDS = f"""clouds:
  team:
    region_name: eu-nl
    auth:
      auth_url: https://iam.eu-nl.otc.t-systems.com/v3
      username: alice
      user_domain_name: OTC-EU-NL-000000000010000
      project_id: {PID}
  byname:
    profile: acme
    auth:
      username: bob
      user_domain_name: acme-domain
      project_name: ap-southeast-1_analytics
"""
SECURE = """clouds:
  team:
    auth:
      password: from-{where}
  byname:
    auth:
      password: bob-{where}
"""
PUBLIC = """public-clouds:
  acme:
    auth:
      auth_url: https://iam.{region_name}.myhuaweicloud.com/v3
    regions:
      - ap-southeast-1
      - ap-southeast-3
"""


def test_secure_yaml_in_the_search_path_not_beside_clouds_yaml(place):
    (place["work"] / "clouds.yaml").write_text(CLOUDS)
    (place["user"] / "secure.yaml").write_text(SECURE.format(where="user"))
    ours, theirs = both(place, "team")
    assert ours == theirs
    assert ours["password"] == "from-user" and ours["region"] == "eu-nl"
    assert ours["project_id"] == PID and ours["username"] == "alice"


def test_the_first_secure_yaml_of_the_search_path_wins(place):
    (place["user"] / "clouds.yaml").write_text(CLOUDS)
    (place["user"] / "secure.yaml").write_text(SECURE.format(where="user"))
    (place["work"] / "secure.yml").write_text(SECURE.format(where="cwd"))
    ours, theirs = both(place, "team")
    assert ours == theirs
    assert ours["password"] == "from-cwd"


def test_profile_from_clouds_public_yaml(place):
    (place["user"] / "clouds.yaml").write_text(CLOUDS)
    (place["user"] / "secure.yaml").write_text(SECURE.format(where="user"))
    (place["work"] / "clouds-public.yaml").write_text(PUBLIC)
    ours, theirs = both(place, "byname")
    assert ours == theirs
    assert ours["region"] == "ap-southeast-1"
    assert ours["auth_url"] == "https://iam.ap-southeast-1.myhuaweicloud.com/v3"
    assert ours["project_name"] == "ap-southeast-1_analytics" and ours["password"] == "bob-user"
    settings = settings_from_env({"HOME": str(place["home"]), "OS_CLOUD": "byname"})
    assert settings is not None
    assert settings.endpoint == "https://modelarts.ap-southeast-1.myhuaweicloud.com"


def test_xdg_config_home_before_the_unix_config_home(place):
    (place["user"] / "clouds.yaml").write_text(CLOUDS.replace("eu-nl", "eu-de"))
    xdg = place["tmp"] / "xdg" / "openstack"
    xdg.mkdir(parents=True)
    (xdg / "clouds.json").write_text(
        json.dumps(
            {
                "clouds": {
                    "team": {
                        "region_name": "eu-nl",
                        "auth": {
                            "auth_url": "https://iam.eu-nl.otc.t-systems.com/v3",
                            "username": "carol",
                            "password": "json-secret",
                            "user_domain_name": "d",
                            "project_name": "eu-nl_x",
                        },
                    }
                }
            }
        )
    )
    ours, theirs = both(place, "team", XDG_CONFIG_HOME=str(place["tmp"] / "xdg"))
    assert ours == theirs
    assert ours["username"] == "carol" and ours["region"] == "eu-nl"


def test_os_client_config_and_secure_file(place):
    elsewhere = place["tmp"] / "elsewhere"
    vault = place["tmp"] / "vault"
    for directory in (elsewhere, vault):
        directory.mkdir()
    (elsewhere / "my-clouds.yaml").write_text(CLOUDS)
    (vault / "my-secure.yaml").write_text(SECURE.format(where="vault"))
    (place["user"] / "secure.yaml").write_text(SECURE.format(where="user"))
    ours, theirs = both(
        place,
        "team",
        OS_CLIENT_CONFIG_FILE=str(elsewhere / "my-clouds.yaml"),
        OS_CLIENT_SECURE_FILE=str(vault / "my-secure.yaml"),
    )
    assert ours == theirs
    assert ours["password"] == "from-vault"
