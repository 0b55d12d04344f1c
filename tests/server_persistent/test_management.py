"""Create, Update, Delete, GetInfo, List, RestartSubsystem: results, errors and their texts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from esdb_wire.protos import persistent_pb2, shared_pb2
from esdb_wire.server.persistent.service import PersistentSubscriptionsService
from esdb_wire.server.store import EventStore
from esdb_wire.transport.status import StatusCode
from tests.server.helpers import new_store
from tests.server_persistent.support import (
    Consumer,
    CreateReq,
    append,
    create_all,
    create_stream,
    ctx,
    delete_req,
    ident,
    info_req,
    list_req,
    read_options,
    replay_req,
    rpc_error,
    run,
    service,
    stream_filter,
    trailers,
    update_all,
    update_stream,
)


def created(
    svc: PersistentSubscriptionsService, *requests: persistent_pb2.CreateReq
) -> PersistentSubscriptionsService:
    async def main() -> None:
        for request in requests:
            await svc.Create(request, ctx())

    run(main())
    return svc


def config_entries(store: EventStore) -> list[dict[str, Any]]:
    found = store.read_stream("$persistentSubscriptionConfig", None, 1, backwards=True)
    assert found is not None
    entries: list[dict[str, Any]] = json.loads(found.records[0].data)["entries"]
    return entries


def info(
    svc: PersistentSubscriptionsService, stream: str | None, group: str
) -> persistent_pb2.SubscriptionInfo:
    return run(svc.GetInfo(info_req(stream, group), ctx())).subscription_info


# ---- Create ----


def test_create_then_get_info_reports_the_settings() -> None:
    svc = created(
        service(),
        create_stream(
            "orders",
            "g",
            start=3,
            resolve_links=True,
            message_timeout_ms=1234,
            max_retry_count=4,
            live_buffer_size=100,
            history_buffer_size=300,
            read_batch_size=25,
            checkpoint_after_ms=500,
            min_checkpoint_count=2,
            max_checkpoint_count=50,
            max_subscriber_count=7,
            consumer_strategy="DispatchToSingle",
            extra_statistics=True,
        ),
    )
    found = info(svc, "orders", "g")
    assert found.event_source == "orders"
    assert found.group_name == "g"
    assert found.status == "Live"
    assert found.start_from == "3"
    assert found.resolve_link_tos
    assert found.extra_statistics
    assert found.message_timeout_milliseconds == 1234
    assert found.max_retry_count == 4
    assert found.live_buffer_size == 100
    assert found.buffer_size == 300
    assert found.read_batch_size == 25
    assert found.check_point_after_milliseconds == 500
    assert found.min_check_point_count == 2
    assert found.max_check_point_count == 50
    assert found.max_subscriber_count == 7
    assert found.named_consumer_strategy == "DispatchToSingle"
    assert found.last_checkpointed_event_position == ""
    assert found.last_known_event_position == ""
    assert found.parked_message_count == 0
    assert list(found.connections) == []


def test_start_from_texts() -> None:
    store = new_store()
    append(store, "s", 2)
    position = store.last_position
    svc = created(
        service(store),
        create_stream("s", "start", start="start"),
        create_stream("s", "end", start="end"),
        create_all("all-start", start="start"),
        create_all("all-end", start="end"),
        create_all("all-at", start=position),
    )
    assert info(svc, "s", "start").start_from == "0"
    assert info(svc, "s", "end").start_from == "-1"
    assert info(svc, None, "all-start").start_from == "C:0/P:0"
    assert info(svc, None, "all-end").start_from == "C:-1/P:-1"
    assert info(svc, None, "all-at").start_from == f"C:{position}/P:{position}"


def test_ticks_are_converted_to_milliseconds() -> None:
    request = create_stream("s", "g")
    settings = request.options.settings
    settings.message_timeout_ticks = 25_000_000  # 2.5 s
    settings.checkpoint_after_ticks = 10_000  # 1 ms
    svc = created(service(), request)
    found = info(svc, "s", "g")
    assert found.message_timeout_milliseconds == 2500
    assert found.check_point_after_milliseconds == 1


def test_named_strategy_enum_when_the_string_is_empty() -> None:
    request = create_stream("s", "g", consumer_strategy="")
    request.options.settings.named_consumer_strategy = CreateReq.Pinned
    svc = created(service(), request)
    assert info(svc, "s", "g").named_consumer_strategy == "Pinned"


def test_pinned_by_correlation_only_by_name() -> None:
    svc = created(service(), create_stream("s", "g", consumer_strategy="PinnedByCorrelation"))
    assert info(svc, "s", "g").named_consumer_strategy == "PinnedByCorrelation"


def test_duplicate_create_is_already_exists() -> None:
    svc = created(service(), create_stream("s", "g"))
    error = rpc_error(svc.Create(create_stream("s", "g"), ctx()))
    assert error.code is StatusCode.ALREADY_EXISTS
    assert error.message == "Subscription group g on stream s exists."
    assert trailers(error) == {
        "exception": "persistent-subscription-exists",
        "stream-name": "s",
        "group-name": "g",
    }
    all_svc = created(service(), create_all("g"))
    error = rpc_error(all_svc.Create(create_all("g"), ctx()))
    assert error.message == "Subscription group g on stream $all exists."


def _failure(svc: PersistentSubscriptionsService, request: persistent_pb2.CreateReq) -> str:
    error = rpc_error(svc.Create(request, ctx()))
    assert error.code is StatusCode.INTERNAL
    found = trailers(error)
    assert found["exception"] == "persistent-subscription-failed"
    assert error.message == (
        f"Subscription group {found['group-name']} on stream {found['stream-name']} "
        f"failed: '{found['reason']}'"
    )
    return str(found["reason"])


def test_create_validation_failures() -> None:
    svc = service()
    assert _failure(svc, create_stream("s", "g", consumer_strategy="Fastest")) == (
        "Consumer strategy Fastest does not exist."
    )
    assert _failure(svc, create_stream("", "g")) == "Bad stream name."
    assert _failure(svc, create_stream("$all", "g")) == (
        "Persistent subscriptions to $all are only supported over gRPC through gRPC clients"
    )
    assert _failure(svc, create_stream("s", "g", read_batch_size=500)) == (
        "Specified argument was out of the range of valid values. "
        "(Parameter 'ReadBatchSize may not be greater than or equal to BufferSize')"
    )
    assert _failure(svc, create_stream("s", "g", start=2**64 - 2)) == (
        "Invalid Start From position: event number must be greater than or equal to -1."
    )
    beyond = svc.subsystem.store.last_position + 1
    assert _failure(svc, create_all("g", start=beyond)) == (
        "Invalid Start From position: commit position must be less than or equal to the "
        "last commit position in the transaction file."
    )
    assert list(run(svc.List(list_req(everything=True), ctx())).subscriptions) == []


def test_create_invalid_arguments() -> None:
    svc = service()
    request = create_stream("s", "g")
    request.options.stream.ClearField("revision_option")
    error = rpc_error(svc.Create(request, ctx()))
    assert error.code is StatusCode.INVALID_ARGUMENT
    assert error.message == (
        "'None' is not a valid EventStore.Client.PersistentSubscriptions."
        "CreateReq+Types+StreamOptions+RevisionOptionOneofCase"
    )
    request = create_all("g")
    request.options.all.ClearField("all_option")
    error = rpc_error(svc.Create(request, ctx()))
    assert error.message == (
        "'None' is not a valid EventStore.Client.PersistentSubscriptions."
        "CreateReq+Types+AllOptions+AllOptionOneofCase"
    )
    request = create_all("g", event_filter=CreateReq.AllOptions.FilterOptions(max=1))
    error = rpc_error(svc.Create(request, ctx()))
    assert error.message == (
        "'None' is not a valid EventStore.Client.PersistentSubscriptions."
        "CreateReq+Types+AllOptions+Types+FilterOptions+FilterOneofCase"
    )
    error = rpc_error(svc.Create(create_all("g", event_filter=stream_filter("(")), ctx()))
    assert (error.code, error.message) == (StatusCode.UNKNOWN, "Exception was thrown by handler.")


def test_deprecated_stream_identifier_and_revision() -> None:
    settings = CreateReq.Settings(
        revision=2, history_buffer_size=500, read_batch_size=20, consumer_strategy="RoundRobin"
    )
    request = CreateReq(
        options=CreateReq.Options(stream_identifier=ident("old"), group_name="g", settings=settings)
    )
    svc = created(service(), request)
    assert info(svc, "old", "g").start_from == "2"


def test_the_configuration_is_written_to_the_config_stream() -> None:
    store = new_store()
    created(
        service(store),
        create_stream("s", "g", start=5, resolve_links=True),
        create_all("a", event_filter=stream_filter(prefixes=["x-", "y-"])),
    )
    found = store.read_stream("$persistentSubscriptionConfig", None, 1, backwards=True)
    assert found is not None
    record = found.records[0]
    assert record.event_type == "$PersistentConfig"
    assert record.is_json
    document = json.loads(record.data)
    assert document["version"] == "2"
    first, second = document["entries"]
    assert first["stream"] == "s"
    assert first["group"] == "g"
    assert first["startFrom"] == 5
    assert first["startPosition"] == "5"
    assert first["resolveLinkTos"] is True
    assert first["namedConsumerStrategy"] == "RoundRobin"
    assert "extraStatistics" not in first  # Newtonsoft leaves default values out
    assert second["stream"] == "$all"
    assert second["filter"] == {
        "context": "streamid",
        "type": "prefix",
        "data": "x-,y-",
        "isAllStream": True,
    }
    assert store.metadata("$persistentSubscriptionConfig").max_count == 2


# ---- GetInfo / List ----


def test_get_info_of_an_unknown_group() -> None:
    svc = created(service(), create_stream("s", "g"))
    for stream, group in (("s", "other"), ("t", "g")):
        error = rpc_error(svc.GetInfo(info_req(stream, group), ctx()))
        assert error.code is StatusCode.NOT_FOUND
        assert error.message == f"Subscription group {group} on stream {stream} does not exist."
        assert trailers(error) == {
            "exception": "persistent-subscription-does-not-exist",
            "stream-name": stream,
            "group-name": group,
        }


def test_list() -> None:
    svc = service()
    assert list(run(svc.List(list_req(everything=True), ctx())).subscriptions) == []
    error = rpc_error(svc.List(list_req("s"), ctx()))
    assert error.code is StatusCode.NOT_FOUND
    assert error.message == "Subscription group  on stream s does not exist."
    assert trailers(error)["group-name"] == ""
    created(svc, create_stream("s", "b"), create_stream("s", "a"), create_all("c"))
    everything = run(svc.List(list_req(everything=True), ctx())).subscriptions
    assert [(i.event_source, i.group_name) for i in everything] == [
        ("$all", "c"),
        ("s", "b"),
        ("s", "a"),
    ]
    for_stream = run(svc.List(list_req("s"), ctx())).subscriptions
    assert [i.group_name for i in for_stream] == ["b", "a"]
    assert [i.group_name for i in run(svc.List(list_req(None), ctx())).subscriptions] == ["c"]
    run(svc.Delete(delete_req("s", "a"), ctx()))
    run(svc.Delete(delete_req("s", "b"), ctx()))
    assert list(run(svc.List(list_req("s"), ctx())).subscriptions) == []


def test_get_info_connections() -> None:
    store = new_store()
    append(store, "s", 5)
    svc = created(service(store), create_stream("s", "g", history_buffer_size=100))

    async def main() -> persistent_pb2.SubscriptionInfo:
        consumer = Consumer(svc, "s", "g", buffer_size=3, metadata={"connection-name": "worker"})
        await consumer.confirmation()
        await consumer.take(3)
        found = (await svc.GetInfo(info_req("s", "g"), ctx())).subscription_info
        await consumer.disconnect()
        return found

    found = run(main())
    assert found.status == "Live"
    assert found.total_items == 3
    assert found.total_in_flight_messages == 3
    assert found.outstanding_messages_count == 3
    assert found.read_buffer_count == 2
    assert found.last_known_event_position == "4"
    (connection,) = found.connections
    assert connection.connection_name == "worker"
    assert connection.username == "system"
    assert getattr(connection, "from") == ""
    assert connection.available_slots == 0
    assert connection.in_flight_messages == 3
    assert connection.total_items == 3
    assert connection.count_since_last_measurement == 3


# ---- Update ----


def test_update_unknown_group() -> None:
    error = rpc_error(service().Update(update_stream("s", "g"), ctx()))
    assert error.code is StatusCode.NOT_FOUND
    assert error.message == "Subscription group g on stream s does not exist."


def test_update_changes_settings_and_keeps_the_all_filter() -> None:
    store = new_store()
    svc = created(
        service(store),
        create_stream("s", "g"),
        create_all("a", event_filter=stream_filter(regex="^keep")),
    )
    run(
        svc.Update(
            update_stream(
                "s",
                "g",
                start="end",
                max_retry_count=3,
                named_consumer_strategy=persistent_pb2.UpdateReq.DispatchToSingle,
            ),
            ctx(),
        )
    )
    found = info(svc, "s", "g")
    assert (found.start_from, found.max_retry_count) == ("-1", 3)
    assert found.named_consumer_strategy == "DispatchToSingle"
    run(svc.Update(update_all("a", start="end"), ctx()))
    assert info(svc, None, "a").start_from == "C:-1/P:-1"
    assert config_entries(store)[1]["filter"]["data"] == "^keep"


def test_update_validation() -> None:
    svc = created(service(), create_stream("s", "g"))
    request = update_stream("s", "g")
    request.options.settings.named_consumer_strategy = 7  # type: ignore[assignment]
    error = rpc_error(svc.Update(request, ctx()))
    assert error.code is StatusCode.INTERNAL
    assert trailers(error)["reason"] == "Consumer strategy 7 does not exist."
    request = update_stream("s", "g")
    request.options.stream.ClearField("revision_option")
    error = rpc_error(svc.Update(request, ctx()))
    assert error.message == (
        "'None' is not a valid EventStore.Client.PersistentSubscriptions."
        "UpdateReq+Types+StreamOptions+RevisionOptionOneofCase"
    )
    error = rpc_error(svc.Update(update_stream("", "g"), ctx()))
    assert trailers(error)["reason"] == "Bad stream name."


def test_update_drops_consumers() -> None:
    store = new_store()
    append(store, "s", 3)
    svc = created(service(store), create_stream("s", "g"))

    async def main() -> None:
        first, second = Consumer(svc, "s", "g"), Consumer(svc, "s", "g")
        assert await first.confirmation() == "s::g"
        await second.confirmation()
        await svc.Update(update_stream("s", "g", max_retry_count=1), ctx())
        for consumer in (first, second):
            error = await consumer.error()
            assert error.code is StatusCode.CANCELLED
            assert error.message == "Subscription group g on stream s was dropped."
            assert dict(error.trailing_metadata) == {
                "exception": "persistent-subscription-dropped",
                "stream-name": "s",
                "group-name": "g",
            }
            await consumer.ended()
        # The new group serves new consumers from the start again (no checkpoint yet).
        third = Consumer(svc, "s", "g")
        await third.confirmation()
        assert [e.event.stream_revision for e in await third.take(3)] == [0, 1, 2]
        await third.disconnect()

    run(main())


# ---- Delete ----


def test_delete_unknown_group() -> None:
    svc = created(service(), create_stream("s", "g"))
    error = rpc_error(svc.Delete(delete_req("s", "x"), ctx()))
    assert error.code is StatusCode.NOT_FOUND
    assert error.message == "Subscription group x on stream s does not exist."
    error = rpc_error(svc.Delete(delete_req(None, "g"), ctx()))
    assert error.message == "Subscription group g on stream $all does not exist."


def test_delete_drops_consumers_and_soft_deletes_its_streams() -> None:
    store = new_store()
    append(store, "s", 3)
    svc = created(
        service(store), create_stream("s", "g", max_checkpoint_count=1, min_checkpoint_count=1)
    )

    async def main() -> None:
        consumer = Consumer(svc, "s", "g")
        await consumer.confirmation()
        events = await consumer.take(3)
        consumer.ack(events[0])
        consumer.nack("Park", events[1], reason="bad")
        await consumer.settle()
        assert store.last_revision("$persistentsubscription-s::g-checkpoint") >= 0
        assert store.last_revision("$persistentsubscription-s::g-parked") == 0
        await svc.Delete(delete_req("s", "g"), ctx())
        error = await consumer.error()
        assert error.code is StatusCode.CANCELLED
        assert error.message == "Subscription group g on stream s was dropped."

    run(main())
    assert store.is_soft_deleted("$persistentsubscription-s::g-checkpoint")
    assert store.is_soft_deleted("$persistentsubscription-s::g-parked")
    error = rpc_error(svc.GetInfo(info_req("s", "g"), ctx()))
    assert error.code is StatusCode.NOT_FOUND
    # A group created again with the same name starts afresh.
    created(svc, create_stream("s", "g"))
    assert info(svc, "s", "g").last_checkpointed_event_position == ""
    assert info(svc, "s", "g").parked_message_count == 0


def test_delete_of_a_bad_stream_name() -> None:
    error = rpc_error(service().Delete(delete_req("", "g"), ctx()))
    assert (error.code, trailers(error)["reason"]) == (StatusCode.INTERNAL, "Bad stream name.")


# ---- Read errors ----


def test_read_of_an_unknown_group() -> None:
    svc = created(service(), create_stream("s", "g"))

    async def main() -> None:
        consumer = Consumer(svc, "s", "nope")
        error = await consumer.error()
        assert error.code is StatusCode.NOT_FOUND
        assert error.message == "Subscription group nope on stream s does not exist."
        assert (
            dict(error.trailing_metadata)["exception"] == "persistent-subscription-does-not-exist"
        )
        consumer = Consumer(svc, None, "g")
        assert (await consumer.error()).message == (
            "Subscription group g on stream $all does not exist."
        )

    run(main())


def test_maximum_subscribers() -> None:
    svc = created(service(), create_stream("s", "g", max_subscriber_count=1))

    async def main() -> None:
        first = Consumer(svc, "s", "g")
        await first.confirmation()
        second = Consumer(svc, "s", "g")
        error = await second.error()
        assert error.code is StatusCode.FAILED_PRECONDITION
        assert (
            error.message == "Maximum subscriptions reached for subscription group g on stream s."
        )
        assert dict(error.trailing_metadata) == {
            "exception": "maximum-subscribers-reached",
            "stream-name": "s",
            "group-name": "g",
        }
        await first.disconnect()
        third = Consumer(svc, "s", "g")
        await third.confirmation()
        await third.disconnect()

    run(main())


def test_read_bad_requests() -> None:
    svc = created(service(), create_stream("s", "g"))

    async def main() -> None:
        ack_first = persistent_pb2.ReadReq(ack=persistent_pb2.ReadReq.Ack())
        error = await Consumer(svc, "s", "g", first=ack_first).error()
        assert (error.code, error.message) == (
            StatusCode.UNKNOWN,
            "Exception was thrown by handler.",
        )
        zero_buffer = read_options("s", "g", buffer_size=0)
        assert (await Consumer(svc, "s", "g", first=zero_buffer).error()).code is StatusCode.UNKNOWN
        no_group = read_options("s", "")
        assert (await Consumer(svc, "s", "", first=no_group).error()).code is StatusCode.UNKNOWN

        async def no_requests() -> AsyncIterator[persistent_pb2.ReadReq]:
            return
            yield

        assert [r async for r in svc.Read(no_requests(), ctx())] == []

    run(main())


# ---- ReplayParked errors ----


def test_replay_parked_errors() -> None:
    svc = created(service(), create_stream("s", "g"))
    error = rpc_error(svc.ReplayParked(replay_req("s", "x"), ctx()))
    assert error.code is StatusCode.NOT_FOUND
    assert error.message == "Subscription group x on stream s does not exist."
    error = rpc_error(svc.ReplayParked(replay_req("s", "g", stop_at=-1), ctx()))
    assert error.code is StatusCode.INTERNAL
    assert trailers(error)["reason"] == (
        "Cannot stop replaying parked message at a negative version."
    )
    run(svc.ReplayParked(replay_req("s", "g"), ctx()))  # nothing parked: fine


# ---- RestartSubsystem ----


def test_restart_drops_consumers_and_keeps_groups() -> None:
    store = new_store()
    append(store, "s", 2)
    svc = created(service(store), create_stream("s", "g"), create_all("a"))

    async def main() -> None:
        consumer = Consumer(svc, "s", "g")
        await consumer.confirmation()
        await consumer.take(2)
        result = await svc.RestartSubsystem(shared_pb2.Empty(), ctx())
        assert isinstance(result, shared_pb2.Empty)
        error = await consumer.error()
        assert error.code is StatusCode.CANCELLED
        assert error.message == "Subscription group g on stream s was dropped."
        groups = (await svc.List(list_req(everything=True), ctx())).subscriptions
        assert sorted(i.group_name for i in groups) == ["a", "g"]

    run(main())


def test_a_new_service_on_the_same_store_finds_the_groups() -> None:
    store: EventStore = new_store()
    old = created(service(store), create_stream("s", "g", max_retry_count=2), create_all("a"))
    old.close()
    new = service(store)
    assert info(new, "s", "g").max_retry_count == 2
    assert info(new, None, "a").event_source == "$all"


def test_restart_when_stopped() -> None:
    svc = service()
    svc.close()
    error = rpc_error(svc.RestartSubsystem(shared_pb2.Empty(), ctx()))
    assert error.code is StatusCode.INTERNAL
    assert error.message == (
        "Subscription group  on stream  failed: 'Persistent Subscriptions cannot be "
        "restarted as it is in the wrong state.'"
    )


def test_list_without_options_is_unknown() -> None:
    error = rpc_error(service().List(persistent_pb2.ListReq(), ctx()))
    assert error.code is StatusCode.UNKNOWN
