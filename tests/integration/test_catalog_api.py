"""The catalog gRPC API and worker at a county node: 三级四同 enforced at the edge, the full
lifecycle, search, guides, conformance, and provincial standards arriving as events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest

from govnet.catalog.v1 import catalog_pb2 as pb
from govnet.catalog.v1 import catalog_pb2_grpc as pb_grpc
from services.catalog.api import item_to_proto
from services.catalog.importer import import_lines
from services.catalog.records import Line
from services.catalog.sample import sample_items, sample_records
from services.catalog.store import CatalogStore
from services.contract import names
from services.contract.envelope import Source, encode, new_event
from services.contract.schemas import default_registry
from services.platform.node import division
from services.platform.settings import Settings
from services.platform.store import Database
from tests.integration.test_api import violations
from tests.support.nodes import node_env, processes
from tests.support.taps import publish, tap

COUNTY = division("320102")
PROVINCIAL = sample_items(division("320000"))
LOCAL = sample_items(COUNTY)


@pytest.fixture(scope="module")
def node(amqp_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    var = tmp_path_factory.mktemp("var")
    env = node_env(amqp_uri=amqp_uri, var_dir=var, division=COUNTY.code, GOVNET_SEED="none")
    settings = Settings.from_environment(env)
    store = catalog_store(settings)
    # The provincial standards are here already, as if they had arrived from the province,
    # and the county implements the first four sample items.
    records = [r for r in sample_records(COUNTY) if getattr(r, "division", "") == "320000"]
    import_lines(store, (Line(n, r) for n, r in enumerate([*records, *LOCAL[:4]], start=1)))
    store.db.dispose()
    with processes([("api", ["catalog"]), ("worker", ["catalog"])], env, var / "run"):
        yield settings


def catalog_store(settings: Settings) -> CatalogStore:
    return CatalogStore(
        Database(
            settings.database_url_for("catalog"),
            service="catalog",
            division=settings.division,
            registry=default_registry(),
        )
    )


@pytest.fixture(scope="module")
def api(node: Settings) -> pb_grpc.CatalogServiceStub:
    return pb_grpc.CatalogServiceStub(grpc.insecure_channel(node.grpc_address("catalog")))


def refused(call: Any, request: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=10)
    return caught.value


def test_a_county_implementation_copies_the_standard_fields(api: Any, amqp_uri: str) -> None:
    bare = item_to_proto(replace(LOCAL[4], name="", type_code="", legal_basis=""))
    with tap(amqp_uri, "catalog.events") as events:
        published = api.PublishItem(pb.PublishItemRequest(item=bare), timeout=10)
        [message] = events.take(1)
    assert (published.name, published.type_code, published.legal_basis) == (
        "失业保险金申领",
        "20",
        "《失业保险条例》第十四条、第十六条",
    )
    assert published.status == pb.ITEM_STATUS_PUBLISHED
    event = json.loads(message.body)
    assert (event["type"], event["subject"], event["source"]) == (
        "item.published",
        LOCAL[4].implementation_code,
        "govnet://320102/catalog",
    )


def test_a_local_change_to_a_standard_field_is_failed_precondition_naming_it(api: Any) -> None:
    error = refused(
        api.PublishItem,
        pb.PublishItemRequest(
            item=item_to_proto(
                replace(
                    LOCAL[0],
                    name="食品经营许可（玄武）",
                    implementation_code=LOCAL[0].implementation_code[:-1] + "2",
                )
            )
        ),
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details().startswith(
        "name is a standard field (三级四同): the province defines it as '食品经营许可'"
    )

    revision = pb.ReviseItemRequest(
        implementation_code=LOCAL[0].implementation_code,
        item=pb.Item(legal_basis="《玄武区食品安全办法》"),
        update_paths=["legal_basis"],
    )
    error = refused(api.ReviseItem, revision)
    assert (error.code(), error.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "legal_basis is a standard field (三级四同): only the province node defines it; "
        "this node is county",
    )


@pytest.mark.parametrize(
    ("basic_code", "reason"),
    [("", "must be 12 characters, got 0"), ("01123001000", "must be 12 characters, got 11")],
)
def test_a_missing_or_malformed_basic_code_is_invalid_argument_not_not_found(
    api: Any, basic_code: str, reason: str
) -> None:
    bare = replace(LOCAL[4], basic_code=basic_code, name="", type_code="", legal_basis="")
    error = refused(api.PublishItem, pb.PublishItemRequest(item=item_to_proto(bare)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(error)["basic_code"] == reason


def test_revising_the_basic_code_at_a_county_is_failed_precondition_naming_it(api: Any) -> None:
    error = refused(
        api.ReviseItem,
        pb.ReviseItemRequest(
            implementation_code=LOCAL[0].implementation_code,
            item=pb.Item(basic_code="011230020000"),
            update_paths=["basic_code"],
        ),
    )
    assert (error.code(), error.details()) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "basic_code is a standard field (三级四同): only the province node defines it; "
        "this node is county",
    )


def test_bad_values_are_invalid_argument_listing_every_field(api: Any) -> None:
    bad = item_to_proto(
        replace(
            LOCAL[1],
            legal_limit_days=5,
            promised_limit_days=9,
            case_kind="soon",
            implementation_code="1132010267042093",
        )
    )
    error = refused(api.PublishItem, pb.PublishItemRequest(item=bad))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(error)) == {"implementation_code", "case_kind", "promised_limit_days"}


def test_revising_keeps_every_version(api: Any, amqp_uri: str) -> None:
    code = LOCAL[1].implementation_code
    with tap(amqp_uri, "catalog.events", "item.revised") as events:
        revised = api.ReviseItem(
            pb.ReviseItemRequest(
                implementation_code=code,
                item=pb.Item(promised_limit_days=12, address="玄武区政务服务中心三楼"),
                update_paths=["promised_limit_days", "address"],
                reason="窗口调整",
            ),
            timeout=10,
        )
        [message] = events.take(1)
    assert (revised.version, revised.promised_limit_days) == (2, 12)
    assert json.loads(message.body)["data"]["changed_fields"] == ["promised_limit_days", "address"]
    history = api.GetItemHistory(pb.GetItemHistoryRequest(code=code), timeout=10)
    assert [(v.version, v.change, list(v.changed_fields), v.reason) for v in history.versions] == [
        (1, "published", [], ""),
        (2, "revised", ["promised_limit_days", "address"], "窗口调整"),
    ]
    error = refused(
        api.ReviseItem, pb.ReviseItemRequest(implementation_code=code, update_paths=["division"])
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("update_paths: division is not a revisable field")


def test_revoking_needs_a_reason_and_announces_the_standard_fields(api: Any, amqp_uri: str) -> None:
    code = LOCAL[2].implementation_code
    error = refused(api.RevokeItem, pb.RevokeItemRequest(implementation_code=code))
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "reason: is required: say why the item is revoked",
    )
    with tap(amqp_uri, "catalog.events", "item.revoked") as events:
        revoked = api.RevokeItem(
            pb.RevokeItemRequest(implementation_code=code, reason="改由市级实施"), timeout=10
        )
        [message] = events.take(1)
    assert (revoked.status, revoked.version) == (pb.ITEM_STATUS_REVOKED, 2)
    data = json.loads(message.body)["data"]
    assert {k: data[k] for k in ("basic_code", "name", "type_code", "legal_basis", "reason")} == {
        "basic_code": LOCAL[2].basic_code,
        "name": LOCAL[2].name,
        "type_code": LOCAL[2].type_code,
        "legal_basis": LOCAL[2].legal_basis,
        "reason": "改由市级实施",
    }
    assert (
        api.SearchItems(pb.SearchItemsRequest(text="建筑业", division="320102"), timeout=10).items
        == []
    )


def test_search_by_part_of_a_name_and_filters(api: Any) -> None:
    found = api.SearchItems(pb.SearchItemsRequest(text="许可", level="county"), timeout=10)
    assert [i.name for i in found.items] == ["食品经营许可", "道路旅客运输经营许可"]
    by_code = api.SearchItems(pb.SearchItemsRequest(text=LOCAL[0].implementation_code), timeout=10)
    assert [i.implementation_code for i in by_code.items] == [LOCAL[0].implementation_code]
    error = refused(
        api.SearchItems, pb.SearchItemsRequest(text="许可", type_code="77", page_size=999)
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(error)) == {"type_code", "page_size"}
    streamed = list(api.ListItems(pb.ListItemsRequest(division="320000"), timeout=10))
    assert [i.implementation_code for i in streamed] == [p.implementation_code for p in PROVINCIAL]


TYPE_CODES = "01, 02, 03, 04, 05, 06, 07, 08, 09, 10, 20"


@pytest.mark.parametrize(
    ("call", "request_", "expected"),
    [
        (
            "ListItems",
            pb.ListItemsRequest(type_code="99"),
            {"type_code": f"must be a national item type code ({TYPE_CODES})"},
        ),
        (
            "ListItems",
            pb.ListItemsRequest(division="abc", department_code="玄武区市场监督管理局"),
            {
                "division": "must be 6 digits, got 3 characters",
                "department_code": "must be 18 characters, got 10",
            },
        ),
        (
            "ListItems",
            pb.ListItemsRequest(kind="service"),
            {"kind": "must be one of power, convenience"},
        ),
        (
            "SearchItems",
            pb.SearchItemsRequest(text="许可", department_code="11320102767342276A"),
            {"department_code": "check character is A, expected U"},
        ),
        (
            "SearchItems",
            pb.SearchItemsRequest(division="3201O2", status="gone"),
            {
                "division": "must be 6 digits, got '3201O2'",
                "status": "must be draft, published, revoked or any",
            },
        ),
        (
            "CheckConformance",
            pb.CheckConformanceRequest(division="abc"),
            {"division": "must be 6 digits, got 3 characters"},
        ),
        (
            "CheckConformance",
            pb.CheckConformanceRequest(department_code="1132010276734227"),
            {"department_code": "must be 18 characters, got 16"},
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_bad_filter_is_invalid_argument_naming_it_on_every_call(
    api: Any, call: str, request_: Any, expected: dict[str, str]
) -> None:
    method = getattr(api, call)

    def answer() -> Any:
        found = method(request_, timeout=10)
        return list(found) if call == "ListItems" else found  # a stream fails on reading

    with pytest.raises(grpc.RpcError) as caught:
        answer()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(caught.value) == expected


def test_a_guide_is_published_with_its_standard_fields_and_served(api: Any, amqp_uri: str) -> None:
    code = LOCAL[0].implementation_code
    error = refused(api.GetGuide, pb.GetGuideRequest(code=code))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    guide = pb.Guide(
        implementation_code=code,
        service_object=["legal"],
        materials=[
            pb.GuideMaterial(name="食品经营许可申请书", form="原件", required=True, copies=1)
        ],
        online_depth=4,
        result_type="证照",
        result_name="食品经营许可证",
    )
    with tap(amqp_uri, "catalog.events", "guide.published") as events:
        published = api.PublishGuide(pb.PublishGuideRequest(guide=guide), timeout=10)
        [message] = events.take(1)
    assert (published.version, published.item.name) == (1, "食品经营许可")
    data = json.loads(message.body)["data"]
    assert {
        k: data[k]
        for k in ("name", "basic_code", "type_code", "legal_basis", "level", "department")
    } == {
        "name": "食品经营许可",
        "basic_code": LOCAL[0].basic_code,
        "type_code": "01",
        "legal_basis": LOCAL[0].legal_basis,
        "level": "county",
        "department": {"code": LOCAL[0].department_code, "name": "玄武区市场监督管理局"},
    }
    served = api.GetGuide(pb.GetGuideRequest(code=code), timeout=10)
    assert (served.result_name, [m.name for m in served.materials]) == (
        "食品经营许可证",
        ["食品经营许可申请书"],
    )


def test_publishing_the_guide_of_a_revoked_item_is_failed_precondition_naming_its_status(
    api: Any, amqp_uri: str
) -> None:
    # Two more implementations of 失业保险金申领: one is revoked, the other stays offered.
    stopped, offered = (
        replace(LOCAL[4], implementation_code=LOCAL[4].implementation_code[:-3] + sequence)
        for sequence in ("002", "003")
    )
    guide = pb.Guide(implementation_code=stopped.implementation_code, online_depth=4, visits=0)
    changed = pb.Guide(implementation_code=stopped.implementation_code, online_depth=4, visits=1)
    with tap(amqp_uri, "catalog.events", "guide.published") as events:
        for item in (stopped, offered):
            api.PublishItem(pb.PublishItemRequest(item=item_to_proto(item)), timeout=10)
        api.PublishGuide(pb.PublishGuideRequest(guide=guide), timeout=10)
        api.RevokeItem(
            pb.RevokeItemRequest(implementation_code=stopped.implementation_code, reason="并办"),
            timeout=10,
        )
        revision = pb.ReviseItemRequest(
            implementation_code=stopped.implementation_code,
            item=pb.Item(address="玄武区政务服务中心二楼"),
            update_paths=["address"],
        )
        # The same answer as a revision of the revoked item gets; the unchanged guide too.
        for call, request in (
            (api.ReviseItem, revision),
            (api.PublishGuide, pb.PublishGuideRequest(guide=changed)),
            (api.PublishGuide, pb.PublishGuideRequest(guide=guide)),
        ):
            error = refused(call, request)
            assert (error.code(), error.details()) == (
                grpc.StatusCode.FAILED_PRECONDITION,
                f"item {stopped.implementation_code} is revoked",
            )
        api.PublishGuide(
            pb.PublishGuideRequest(
                guide=pb.Guide(implementation_code=offered.implementation_code, online_depth=4)
            ),
            timeout=10,
        )
        announced = [json.loads(m.body) for m in events.take(2)]
    # Only the guides that were published went out (the store suite checks the outbox
    # exactly; two relays may send in either order).
    assert sorted((e["subject"], e["data"]["version"]) for e in announced) == sorted(
        [(stopped.implementation_code, 1), (offered.implementation_code, 1)]
    )
    served = api.GetGuide(pb.GetGuideRequest(code=stopped.implementation_code), timeout=10)
    assert (served.version, served.online_depth, served.visits) == (1, 4, 0)
    assert served.item.status == pb.ITEM_STATUS_REVOKED


def test_a_revised_provincial_standard_arrives_and_the_county_follows(
    api: Any, amqp_uri: str
) -> None:
    provincial = replace(
        PROVINCIAL[3], name="社会团体成立登记（含变更）", version=2, standard_version=2
    )
    event = new_event(
        default_registry(),
        names.ITEM_REVISED,
        provincial.event_data() | {"changed_fields": ["name"], "reason": "法规修订"},
        source=Source.for_service("320000", "catalog"),
        now=datetime.now(UTC),
    ).with_sequence(7)
    with tap(amqp_uri, "catalog.events", "item.revised") as events:
        # What federation from the province node delivers:
        publish(amqp_uri, names.STANDARDS_EXCHANGE, "item.revised", encode(event))
        [message] = events.take(1)
    followed = json.loads(message.body)["data"]
    assert (followed["implementation_code"], followed["name"], followed["standard_version"]) == (
        LOCAL[3].implementation_code,
        "社会团体成立登记（含变更）",
        2,
    )
    item = api.GetItem(pb.GetItemRequest(code=LOCAL[3].implementation_code), timeout=10)
    assert (item.name, item.version) == ("社会团体成立登记（含变更）", 2)


def test_standards_from_anywhere_but_the_province_are_rejected(
    amqp_uri: str, node: Settings
) -> None:
    city = sample_items(division("320100"))[0]
    event = new_event(
        default_registry(),
        names.ITEM_PUBLISHED,
        replace(city, level="province").event_data(),
        source=Source.for_service("320100", "catalog"),
        now=datetime.now(UTC),
    ).with_sequence(1)
    with tap(amqp_uri, names.REJECTED_EXCHANGE) as rejected:
        publish(amqp_uri, names.STANDARDS_EXCHANGE, "item.published", encode(event))
        [parked] = rejected.take(1)
    assert parked.headers[names.REJECT_CODE_HEADER] == "handler_failed"
    assert parked.headers[names.REJECT_REASON_HEADER] == (
        "standards come from the province node 320000, not from 320100"
    )


def test_conformance_reports_deviations_per_division_and_department(
    api: Any, node: Settings
) -> None:
    store = catalog_store(node)
    deviating = replace(LOCAL[0], name="食品经营许可证核发")
    import_lines(store, iter([Line(1, deviating)]))
    store.db.dispose()
    report = api.CheckConformance(pb.CheckConformanceRequest(division="320102"), timeout=10)
    [xuanwu] = report.divisions
    assert (xuanwu.division, xuanwu.name, xuanwu.deviating_items) == ("320102", "玄武区", 1)
    assert dict(xuanwu.deviations_by_field) == {"name": 1}
    [market] = [d for d in xuanwu.departments if d.deviating_items]
    assert market.name == "玄武区市场监督管理局"
    [deviation] = market.deviations
    assert (deviation.field, deviation.standard_value, deviation.local_value) == (
        "name",
        "食品经营许可",
        "食品经营许可证核发",
    )


def test_the_search_and_conformance_commands_read_the_running_node(node: Settings) -> None:
    from tests.support.running import govnet

    env = {"PATH": "/usr/bin:/bin", **node.to_environment()}
    found = govnet("catalog", "search", "客运", "--level", "county", env=env)
    assert found.returncode == 0, found.stderr
    assert found.stdout.splitlines() == [
        f"{LOCAL[1].implementation_code}  道路旅客运输经营许可  [01 power] 玄武区交通运输局 "
        "(320102) 承诺12个工作日"
    ]
    refused = govnet("catalog", "search", "许可", "--type", "77", env=env)
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr.strip() == (
        f"govnet catalog search: type_code: must be a national item type code ({TYPE_CODES})"
    )
    refused = govnet("catalog", "search", "许可", "--department", "玄武区市场监督管理局", env=env)
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr.strip() == (
        "govnet catalog search: department_code: must be 18 characters, got 10"
    )
    refused = govnet("catalog", "conformance", "--division", "abc", env=env)
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr.strip() == (
        "govnet catalog conformance: division: must be 6 digits, got 3 characters"
    )
    report = govnet("catalog", "conformance", "--division", "320102", "--json", env=env)
    assert report.returncode == 0, report.stderr
    [xuanwu] = json.loads(report.stdout)["divisions"]
    assert xuanwu["division"] == "320102"


def test_search_input_a_caller_gets_wrong_is_invalid_argument_naming_the_field(
    api: Any,
) -> None:
    cases = [
        (pb.SearchItemsRequest(text="许可", page_token="9" * 25), "page_token"),
        (pb.SearchItemsRequest(page_token="1" * 5000), "page_token"),
        (pb.SearchItemsRequest(page_size=-1), "page_size"),
        (pb.SearchItemsRequest(text="！？…"), "text"),
        (pb.SearchItemsRequest(text="许" * 101), "text"),
    ]
    for request, field in cases:
        error = refused(api.SearchItems, request)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (request, error.details())
        assert list(violations(error)) == [field]


def test_a_page_token_of_another_query_is_refused_and_works_for_its_own(api: Any) -> None:
    first = api.SearchItems(pb.SearchItemsRequest(text="许可", page_size=1), timeout=10)
    assert first.next_page_token
    error = refused(
        api.SearchItems,
        pb.SearchItemsRequest(text="登记", page_size=1, page_token=first.next_page_token),
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(error) == {
        "page_token": "belongs to another query: send the text and filters of the query "
        "that returned it, or no page_token for a first page"
    }
    error = refused(api.SearchItems, pb.SearchItemsRequest(text="许可", page_token="40"))
    assert violations(error) == {
        "page_token": "is not a token this API returned (garbled, cut short, or made by an "
        "earlier version): search again without it"
    }
    second = api.SearchItems(
        pb.SearchItemsRequest(text="许可", page_size=1, page_token=first.next_page_token),
        timeout=10,
    )
    both = api.SearchItems(pb.SearchItemsRequest(text="许可", page_size=2), timeout=10)
    assert [*first.items, *second.items] == list(both.items)


def test_a_code_typed_in_lower_case_reaches_its_item_on_every_call(api: Any) -> None:
    item = replace(LOCAL[4], implementation_code=LOCAL[4].implementation_code[:-3] + "009")
    code = item.implementation_code
    lower = code.lower()
    bare = item_to_proto(replace(item, name="", type_code="", legal_basis=""))
    bare.implementation_code, bare.department_code = lower, item.department_code.lower()
    published = api.PublishItem(pb.PublishItemRequest(item=bare, draft=True), timeout=10)
    assert published.implementation_code == code
    api.PublishDraft(pb.PublishDraftRequest(implementation_code=lower), timeout=10)
    assert api.GetItem(pb.GetItemRequest(code=lower), timeout=10).implementation_code == code
    found = api.SearchItems(pb.SearchItemsRequest(text=f"{lower[:18]} {lower[18:]}"), timeout=10)
    assert [i.implementation_code for i in found.items] == [code]
    api.PublishGuide(
        pb.PublishGuideRequest(guide=pb.Guide(implementation_code=lower, online_depth=2)),
        timeout=10,
    )
    assert api.GetGuide(pb.GetGuideRequest(code=lower), timeout=10).online_depth == 2
    revoked = api.RevokeItem(
        pb.RevokeItemRequest(implementation_code=lower, reason="并办"), timeout=10
    )
    assert revoked.status == pb.ITEM_STATUS_REVOKED
    history = api.GetItemHistory(pb.GetItemHistoryRequest(code=lower), timeout=10)
    assert [v.change for v in history.versions] == ["drafted", "published", "revoked"]


def test_the_conformance_json_has_every_figure_even_when_it_is_zero(node: Settings) -> None:
    from tests.support.running import govnet

    env = {"PATH": "/usr/bin:/bin", **node.to_environment()}
    empty = govnet("catalog", "conformance", "--division", "320105", "--json", env=env)
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout) == {"divisions": [], "items": 0, "deviatingItems": 0}
    report = govnet("catalog", "conformance", "--division", "320102", "--json", env=env)
    [xuanwu] = json.loads(report.stdout)["divisions"]
    assert {"items", "deviatingItems", "conformanceRate", "deviationsByField"} <= set(xuanwu)
    for department in xuanwu["departments"]:
        assert {"code", "name", "items", "deviatingItems", "deviations"} <= set(department)
