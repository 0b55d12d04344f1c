"""The code examples of the esdbclient 0.5 README, transcribed verbatim (in order).

The README was published flattened (no indentation); only the bodies of its two
``for`` loops needed their indentation back. The tests replace ``esdbclient`` with
``esdb_wire`` in the import lines and run the snippets in one namespace, in order.
"""

EXAMPLES: list[tuple[str, str]] = [
    (
        "Construct client",
        "from esdbclient import EsdbClient\nclient = EsdbClient(uri='localhost:2113')\n",
    ),
    (
        "Append events",
        "from uuid import uuid4\nfrom esdbclient import NewEvent\n# Construct new event object.\nevent1 = NewEvent(\ntype='OrderCreated',\ndata=b'{}',\nmetadata=b'{}'\n)\n# Define stream name.\nstream_name1 = str(uuid4())\n# Append list of events to new stream.\ncommit_position1 = client.append_events(\nstream_name=stream_name1,\nexpected_position=None,\nevents=[event1],\n)\n",
    ),
    (
        "Append more events",
        "event2 = NewEvent(\ntype='OrderUpdated',\ndata=b'{}',\nmetadata=b'{}',\n)\nevent3 = NewEvent(\ntype='OrderDeleted',\ndata=b'{}',\nmetadata=b'{}',\n)\ncommit_position2 = client.append_events(\nstream_name=stream_name1,\nexpected_position=0,\nevents=[event2, event3],\n)\n",
    ),
    (
        "Get current stream position",
        "stream_position = client.get_stream_position(\nstream_name=stream_name1\n)\nassert stream_position == 2\n",
    ),
    (
        "Stream position of an unknown stream",
        "stream_position = client.get_stream_position(\nstream_name='stream-unknown'\n)\nassert stream_position == None\n",
    ),
    (
        "Read stream events",
        "response = client.read_stream_events(\nstream_name=stream_name1\n)\nevents = list(response)\nassert len(events) == 3\nassert events[0].stream_name == stream_name1\nassert events[0].stream_position == 0\nassert events[0].type == event1.type\nassert events[0].data == event1.data\nassert events[1].stream_name == stream_name1\nassert events[1].stream_position == 1\nassert events[1].type == event2.type\nassert events[1].data == event2.data\nassert events[2].stream_name == stream_name1\nassert events[2].stream_position == 2\nassert events[2].type == event3.type\nassert events[2].data == event3.data\n",
    ),
    (
        "Read from a position",
        "events = list(\nclient.read_stream_events(\nstream_name=stream_name1,\nposition=1,\n)\n)\nassert len(events) == 2\nassert events[0].stream_name == stream_name1\nassert events[0].stream_position == 1\nassert events[0].type == event2.type\nassert events[0].data == event2.data\nassert events[1].stream_name == stream_name1\nassert events[1].stream_position == 2\nassert events[1].type == event3.type\nassert events[1].data == event3.data\n",
    ),
    (
        "Read backwards",
        "events = list(\nclient.read_stream_events(\nstream_name=stream_name1,\nbackwards=True,\n)\n)\nassert len(events) == 3\nassert events[0].stream_name == stream_name1\nassert events[0].stream_position == 2\nassert events[0].type == event3.type\nassert events[0].data == event3.data\nassert events[1].stream_name == stream_name1\nassert events[1].stream_position == 1\nassert events[1].type == event2.type\nassert events[1].data == event2.data\n",
    ),
    (
        "Read a limited number",
        "events = list(\nclient.read_stream_events(\nstream_name=stream_name1,\nlimit=2,\n)\n)\nassert len(events) == 2\nassert events[0].stream_name == stream_name1\nassert events[0].stream_position == 0\nassert events[0].type == event1.type\nassert events[0].data == event1.data\nassert events[1].stream_name == stream_name1\nassert events[1].stream_position == 1\nassert events[1].type == event2.type\nassert events[1].data == event2.data\n",
    ),
    (
        "Read backwards from a position with a limit",
        "events = list(\nclient.read_stream_events(\nstream_name=stream_name1,\nposition=2,\nbackwards=True,\nlimit=1,\n)\n)\nassert len(events) == 1\nassert events[0].stream_name == stream_name1\nassert events[0].stream_position == 2\nassert events[0].type == event3.type\nassert events[0].data == event3.data\n",
    ),
    (
        "Read all events",
        "events = list(client.read_all_events())\nassert len(events) >= 3\n",
    ),
    (
        "Read all from a commit position",
        "events = list(\nclient.read_all_events(\nposition=commit_position1\n)\n)\nassert len(events) == 3\nassert events[0].stream_name == stream_name1\nassert events[0].stream_position == 0\nassert events[0].type == event1.type\nassert events[0].data == event1.data\nassert events[1].stream_name == stream_name1\nassert events[1].stream_position == 1\nassert events[1].type == event2.type\nassert events[1].data == event2.data\nassert events[2].stream_name == stream_name1\nassert events[2].stream_position == 2\nassert events[2].type == event3.type\nassert events[2].data == event3.data\n",
    ),
    (
        "Read all backwards",
        "events = list(\nclient.read_all_events(\nbackwards=True\n)\n)\nassert len(events) >= 3\nassert events[0].stream_name == stream_name1\nassert events[0].stream_position == 2\nassert events[0].type == event3.type\nassert events[0].data == event3.data\nassert events[1].stream_name == stream_name1\nassert events[1].stream_position == 1\nassert events[1].type == event2.type\nassert events[1].data == event2.data\nassert events[2].stream_name == stream_name1\nassert events[2].stream_position == 0\nassert events[2].type == event1.type\nassert events[2].data == event1.data\n",
    ),
    (
        "Read all with a limit",
        "events = list(\nclient.read_all_events(\nposition=commit_position1,\nlimit=1,\n)\n)\nassert len(events) == 1\nassert events[0].stream_name == stream_name1\nassert events[0].stream_position == 0\nassert events[0].type == event1.type\nassert events[0].data == event1.data\n",
    ),
    (
        "Read all backwards with a limit",
        "events = list(\nclient.read_all_events(\nbackwards=True,\nlimit=1,\n)\n)\nassert len(events) == 1\nassert events[0].stream_name == stream_name1\nassert events[0].stream_position == 2\nassert events[0].type == event3.type\nassert events[0].data == event3.data\n",
    ),
    (
        "Get current commit position",
        "commit_position = client.get_commit_position()\n",
    ),
    (
        "Catch-up subscription",
        "# Get the commit position (usually from database of materialised views).\ncommit_position = client.get_commit_position()\n# Append three events.\nstream_name1 = str(uuid4())\nevent1 = NewEvent(\ntype='OrderCreated',\ndata=b'{}',\nmetadata=b'{}',\n)\nevent2 = NewEvent(\ntype='OrderUpdated',\ndata=b'{}',\nmetadata=b'{}',\n)\nevent3 = NewEvent(\ntype='OrderDeleted',\ndata=b'{}',\nmetadata=b'{}',\n)\nclient.append_events(\nstream_name=stream_name1,\nexpected_position=None,\nevents=[event1, event2, event3],\n)\n# Subscribe from the commit position.\nsubscription = client.subscribe_all_events(\nposition=commit_position\n)\n# Catch up by receiving the three events from the subscription.\nevents = []\nfor event in subscription:\n    # Check the stream name is 'stream_name1'.\n    assert event.stream_name == stream_name1\n    events.append(event)\n    if len(events) == 3:\n        break\n# Append three more events.\nstream_name = str(uuid4())\nevent4 = NewEvent(\ntype='OrderCreated',\ndata=b'{}',\nmetadata=b'{}',\n)\nevent5 = NewEvent(\ntype='OrderUpdated',\ndata=b'{}',\nmetadata=b'{}',\n)\nevent6 = NewEvent(\ntype='OrderDeleted',\ndata=b'{}',\nmetadata=b'{}',\n)\nclient.append_events(\nstream_name=stream_name,\nexpected_position=None,\nevents=[event4, event5, event6],\n)\n# Receive the three new events from the same subscription.\nevents = []\nfor event in subscription:\n    # Check the stream name is 'stream_name2'.\n    assert event.stream_name == stream_name\n    events.append(event)\n    if len(events) == 3:\n        break\n",
    ),
    (
        "End the subscription",
        "# End the subscription.\ndel subscription\n",
    ),
    (
        "NewEvent",
        "new_event = NewEvent(\ntype='OrderCreated',\ndata=b'{}',\nmetadata=b'{}',\n)\n",
    ),
    (
        "RecordedEvent",
        "from esdbclient.events import RecordedEvent\nrecorded_event = RecordedEvent(\ntype='OrderCreated',\ndata=b'{}',\nmetadata=b'{}',\nstream_name='stream1',\nstream_position=0,\ncommit_position=512,\n)\n",
    ),
]
