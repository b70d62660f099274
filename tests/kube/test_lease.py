"""Leader election on a coordination.k8s.io/v1 Lease, against the local API server's REST
storage (409 Conflict on a stale resourceVersion, as kube-apiserver answers): exactly one
candidate leads; a standby takes over when the leader's lease lapses, or at once when the leader
releases it."""

import asyncio
import copy
import json
import time

from admit.kube.api import connect
from admit.kube.lease import Lease
from tests.kube.fake_apiserver import FakeAPIServer

PATH = "/apis/coordination.k8s.io/v1/namespaces/admit/leases/admit-audit"


def candidates(kubeconfig, *names, duration=0.6):
    client = connect(kubeconfig)
    settings = {"duration": duration, "renew_deadline": 0.4, "retry": 0.1}
    return client, [Lease(client, "admit", "admit-audit", name, **settings) for name in names]


def test_one_candidate_leads_and_the_other_stands_by(tmp_path):
    async def scenario(kubeconfig):
        client, (a, b) = candidates(kubeconfig, "a", "b")
        try:
            results = []
            for _ in range(5):
                results.append((await a.step(), await b.step()))
                await asyncio.sleep(0.05)
            return results, a.holder, b.holder
        finally:
            await client.aclose()

    with FakeAPIServer({}) as server:
        results, seen_by_a, seen_by_b = asyncio.run(scenario(server.kubeconfig(tmp_path)))
        lease = server.objects[PATH]
    assert results == [(True, False)] * 5
    assert seen_by_a == seen_by_b == "a"
    assert lease["spec"]["holderIdentity"] == "a"
    assert lease["spec"]["leaseDurationSeconds"] == 0  # int(0.6): the test's short lease
    assert lease["spec"]["leaseTransitions"] == 0


def test_a_standby_takes_over_when_the_leaders_lease_lapses(tmp_path):
    async def scenario(kubeconfig):
        client, (a, b) = candidates(kubeconfig, "a", "b")
        try:
            assert await a.step()
            assert not await b.step()
            started = time.monotonic()
            while not await b.step():  # a stopped renewing (it crashed)
                await asyncio.sleep(0.05)
            waited = time.monotonic() - started
            return waited, await a.step(), b.transitions
        finally:
            await client.aclose()

    with FakeAPIServer({}) as server:
        waited, a_leads, _ = asyncio.run(scenario(server.kubeconfig(tmp_path)))
        spec = server.objects[PATH]["spec"]
    assert 0.5 <= waited < 2.0  # about one lease duration, measured on b's own clock
    assert spec["holderIdentity"] == "b"
    assert spec["leaseTransitions"] == 1
    assert a_leads is False  # the old leader sees the new holder and stands by


def test_racing_writers_cannot_both_win(tmp_path):
    """Two standbys read the lapsed lease at the same version and both write: the API server
    takes the first and answers the second 409 Conflict, which loses."""

    async def scenario(kubeconfig):
        client, (a, b, c) = candidates(kubeconfig, "a", "b", "c")
        try:
            assert await a.step()
            stale = json.loads((await client.get(PATH)).content)
            won = []
            for candidate in (b, c):
                lease = copy.deepcopy(stale)
                lease["spec"]["holderIdentity"] = candidate.identity
                won.append(await candidate._write("PUT", PATH, lease))
            return won
        finally:
            await client.aclose()

    with FakeAPIServer({}) as server:
        won = asyncio.run(scenario(server.kubeconfig(tmp_path)))
        holder = server.objects[PATH]["spec"]["holderIdentity"]
    assert won == [True, False]
    assert holder == "b"


def test_a_leader_that_releases_hands_over_at_once(tmp_path):
    async def scenario(kubeconfig):
        client, (a, b) = candidates(kubeconfig, "a", "b", duration=30)
        try:
            assert await a.step()
            assert not await b.step()
            await a.release()
            return await b.step(), a.leading
        finally:
            await client.aclose()

    with FakeAPIServer({}) as server:
        b_leads, a_leads = asyncio.run(scenario(server.kubeconfig(tmp_path)))
        writes = [(m, json.dumps(body["spec"]["holderIdentity"])) for m, _, body in server.writes]
    assert (b_leads, a_leads) == (True, False)
    assert writes == [("POST", '"a"'), ("PUT", '""'), ("PUT", '"b"')]
