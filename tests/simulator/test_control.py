"""The control API, its Python client, the demo organisation and the ``python -m simulator`` CLI."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import msal
import pytest
import requests

from simulator import demo
from simulator.client import SimulatorClient, SimulatorControlError
from simulator.server import SimulatorServer
from simulator.world import World

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", name="server")
def server_fixture(simulator_cert_dir: Path) -> Iterator[SimulatorServer]:
    with SimulatorServer.start(simulator_cert_dir, world=World(seed=5)) as running:
        yield running


@pytest.fixture(name="sim")
def sim_fixture(server: SimulatorServer) -> Iterator[SimulatorClient]:
    with SimulatorClient(server.base_url, server.certs.ca) as client:
        client.reset()
        yield client


def test_clock_moves_forward_only(sim: SimulatorClient) -> None:
    before = sim.clock()
    after = sim.advance_clock(3600)
    assert after["offset_seconds"] == before["offset_seconds"] + 3600
    with pytest.raises(SimulatorControlError) as refused:
        sim.advance_clock(-1)
    assert refused.value.status == 400


def test_reset_forgets_the_directory_and_the_clock(sim: SimulatorClient) -> None:
    sim.create_tenant("contoso.example")
    sim.advance_clock(60)
    sim.reset()
    assert sim.tenants() == []
    assert sim.clock()["offset_seconds"] == 0


def test_directory_is_built_and_read_back(sim: SimulatorClient) -> None:
    tenant = sim.create_tenant("contoso.example", "Contoso", tenant_id="t-contoso")
    admin = sim.create_user("contoso.example", email="ada@contoso.example", is_admin=True)
    room = sim.create_room(
        "t-contoso", "room-1", display_name="Room 1", capacity=6, policy="never_answer"
    )
    app = sim.create_app("Svc", client_secret="s", redirect_uris=["http://localhost/cb"])
    sim.set_tenant_policy("contoso.example", user_consent="low_impact_only", mfa_required=True)
    sim.set_assignment_required("t-contoso", app["client_id"])
    sim.assign_user("t-contoso", app["client_id"], "ada@contoso.example")
    sim.grant_consent(
        "t-contoso", app["client_id"], scopes=["User.Read"], app_roles=["User.Read.All"]
    )
    read = sim.tenant("t-contoso")
    assert read["id"] == tenant["id"] == "t-contoso"
    assert read["policy"]["user_consent"] == "low_impact_only" and read["policy"]["mfa_required"]
    assert {u["mail"] for u in read["users"]} == {"ada@contoso.example", "room-1@contoso.example"}
    assert (
        room["kind"] == "room" and room["capacity"] == 6 and room["room_policy"] == "never_answer"
    )
    [sp] = read["service_principals"]
    assert sp["assignment_required"] and sp["assigned_user_ids"] == [admin["id"]]
    assert "User.Read" in sp["delegated_grants"]["AllPrincipals"]
    assert sp["app_roles"] == ["User.Read.All"]
    sim.revoke_consent("t-contoso", app["client_id"], app_roles=["User.Read.All"])
    assert sim.service_principal("t-contoso", app["client_id"])["app_roles"] == []


def test_control_errors_are_reported(sim: SimulatorClient) -> None:
    sim.create_tenant("contoso.example")
    cases = [
        (lambda: sim.create_tenant("contoso.example"), 409),
        (lambda: sim.tenant("nowhere.example"), 404),
        (lambda: sim.set_tenant_policy("contoso.example", user_consent="sometimes"), 400),
        (lambda: sim.set_tenant_policy("contoso.example", colour="blue"), 400),
        (lambda: sim.create_user("contoso.example", email="x@fabrikam.example"), 400),
        (lambda: sim.create_room("contoso.example", "r", policy="maybe"), 400),
        (lambda: sim.approve_consent_request("contoso.example", "nope"), 404),
    ]
    for call, status in cases:
        with pytest.raises(SimulatorControlError) as refused:
            call()
        assert refused.value.status == status


def test_demo_organisation_works_with_msal(sim: SimulatorClient, server: SimulatorServer) -> None:
    seeded = demo.seed(server.world)
    ms = seeded["microsoft"]
    assert ms["client_id"] == demo.CLIENT_ID and ms["tenant_id"] == demo.TENANT_ID
    assert ms["users"][0]["email"] == "megan.bowen@contoso.example" and ms["users"][0]["admin"]
    session = requests.Session()
    session.trust_env = False
    session.verify = str(server.certs.trust_bundle)
    try:
        app = msal.ConfidentialClientApplication(
            demo.CLIENT_ID,
            client_credential=demo.CLIENT_SECRET,
            authority=ms["authority"],
            instance_discovery=False,
            http_client=session,
        )
        flow = app.initiate_auth_code_flow(
            ["Calendars.ReadWrite"], redirect_uri=demo.REDIRECT_URIS[0], response_mode="form_post"
        )
        callback = sim.microsoft_sign_in(flow["auth_uri"], "alex.wilber@contoso.example")
        response = dict(httpx.URL(callback).params)
        assert "access_token" in app.acquire_token_by_auth_code_flow(flow, response)
    finally:
        session.close()
    admin_callback = sim.microsoft_sign_in(ms["admin_consent_url"], "megan.bowen@contoso.example")
    assert httpx.URL(admin_callback).params["admin_consent"] == "True"


def test_area_control_clients_are_reachable_from_the_client(sim: SimulatorClient) -> None:
    assert type(sim.google).__name__ == "GoogleControl"
    assert type(sim.graph).__name__ == "GraphControl"
    assert sim.google is sim.google


def test_cli_serves_the_demo_until_interrupted(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--port", "0", "--cert-dir", str(tmp_path), "--demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C stops."):
                break
        base_url = lines[0].split(": ", 1)[1].strip()
        ca = lines[1].split(": ", 1)[1].strip()
        context = ssl.create_default_context(cafile=ca)
        discovery = httpx.get(
            f"{base_url}/contoso.example/v2.0/.well-known/openid-configuration", verify=context
        )
        assert discovery.json()["issuer"] == f"{base_url}/{demo.TENANT_ID}/v2.0"
    finally:
        process.send_signal(signal.SIGINT)
        remaining = process.communicate(timeout=20)[0]
    assert process.returncode == 0, remaining
