"""The projection language, in JavaScript: what a query can call and how events run.

:data:`PRELUDE` runs in a fresh JavaScript context before the query. It defines the
definition functions (``fromAll``, ``fromCategory``, ``fromStream``, ``fromStreams``,
``options``, ``on_event``, ``on_any``) and the chain they return (``when``,
``partitionBy``, ``foreachStream``, ``outputState``, ``transformBy``, ``filterBy``,
``outputTo``), each offering the next calls the server's interpreter offers after it
(``JintProjectionStateHandler.InterpreterRuntime``): a call the server would not accept
there is not a function here either, so the query fails to compile.

After the query, :data:`SWITCH` removes the definition functions and adds the ones a
handler may call (``emit``, ``linkTo``, ``linkStreamTo``, ``copyTo``, ``log``). The
host (:mod:`.jsruntime`) then drives the hidden ``__esdb`` object: ``definition()``,
``process(items)``, ``snapshot(all)``, ``load(states)``, ``reset()``, ``state(p)``,
``result(p)``, ``logs()``. Values cross as JSON text. Partition states live here, in the
engine, for the whole run; the host asks for the changed ones at each checkpoint.

Written for this project from the server's documented behaviour; no server code.
"""

from __future__ import annotations

from typing import Final

PRELUDE: Final = r"""
(function (g) {
  "use strict";
  var def = {
    allStreams: false, categories: [], streams: [], allEvents: true, events: [],
    byStreams: false, byCustomPartitions: false, definesFold: false,
    definesStateTransform: false, outputState: false, handlesDeletedNotifications: false,
    includeLinks: false, reorderEvents: false, processingLag: null, biState: false,
    resultStreamName: null, partitionResultStreamNamePattern: null
  };
  var handlers = Object.create(null);
  var init = null, initShared = null, any = null, deleted = null, partitionFn = null;
  var created = [], transforms = [], emitted = [], logs = [];
  var states = new Map(), results = new Map(), dirty = new Set();
  var shared;
  var hasShared = false;

  function fail(message) { throw new Error(message); }
  function isFn(f) { return typeof f === "function"; }

  function addHandler(name, fn) {
    if (name === "$init") { init = fn; }
    else if (name === "$initShared") { def.biState = true; initShared = fn; }
    else if (name === "$any") { any = fn; def.allEvents = true; }
    else if (name === "$created") { created.push(fn); }
    else if (name === "$deleted") {
      if (def.biState) { fail("Cannot handle deletes in bi-state projections"); }
      def.handlesDeletedNotifications = true; deleted = fn;
    } else {
      def.allEvents = false;
      if (def.events.indexOf(name) < 0) { def.events.push(name); }
      handlers[name] = fn;
    }
  }

  var next = {
    fromStream: ["when", "partitionBy", "outputState"],
    fromAll: ["when", "partitionBy", "outputState", "foreachStream"],
    fromStreams: ["when", "partitionBy", "outputState"],
    fromCategory: ["when", "partitionBy", "outputState", "foreachStream"],
    when: ["transformBy", "filterBy", "outputState", "outputTo", "$defines_state_transform"],
    foreachStream: ["when"],
    outputState: ["transformBy", "filterBy", "outputTo"],
    partitionBy: ["when"],
    transformBy: ["transformBy", "filterBy", "outputState", "outputTo"],
    filterBy: ["transformBy", "filterBy", "outputState", "outputTo"],
    outputTo: []
  };
  var steps = {
    when: function (h) {
      if (h !== null && typeof h === "object") {
        Object.keys(h).forEach(function (key) { if (isFn(h[key])) { addHandler(key, h[key]); } });
      }
      def.definesFold = true;
      return chain("when");
    },
    partitionBy: function (fn) {
      if (!isFn(fn)) { fail("partitionBy"); }
      def.byCustomPartitions = true; partitionFn = fn;
      return chain("partitionBy");
    },
    foreachStream: function () { def.byStreams = true; return chain("foreachStream"); },
    outputState: function () { def.outputState = true; return chain("outputState"); },
    outputTo: function (resultStream, pattern) {
      if (typeof resultStream !== "string") { fail("expected string value (resultStream)"); }
      if (arguments.length === 2 && typeof pattern !== "string") {
        fail("expected string value (partitionResultStreamPattern)");
      }
      def.resultStreamName = resultStream;
      if (arguments.length === 2) { def.partitionResultStreamNamePattern = pattern; }
      return chain("outputTo");
    },
    transformBy: function (fn) { return addTransform("t", fn, "transformBy"); },
    filterBy: function (fn) { return addTransform("f", fn, "filterBy"); },
    $defines_state_transform: function () {
      def.definesStateTransform = true; def.outputState = true;
    }
  };
  function addTransform(kind, fn, step) {
    if (!isFn(fn)) { fail("expected function"); }
    def.definesStateTransform = true; def.outputState = true;
    transforms.push([kind, fn]);
    return chain(step);
  }
  function chain(step) {
    var object = {};
    next[step].forEach(function (name) { object[name] = steps[name]; });
    return object;
  }

  var setters = {
    "$includelinks": ["includeLinks", "boolean"],
    "reorderevents": ["reorderEvents", "boolean"],
    "processinglag": ["processingLag", "number"],
    "resultstreamname": ["resultStreamName", "string"],
    "bistate": ["biState", "boolean"]
  };
  var definitions = {
    options: function (o) {
      if (o !== null && typeof o === "object") {
        Object.keys(o).forEach(function (key) {
          var setter = setters[key.toLowerCase()];
          if (!setter) { fail("Unrecognized option: " + key); }
          if (typeof o[key] !== setter[1]) { fail("Invalid value"); }
          def[setter[0]] = setter[1] === "number" ? Math.trunc(o[key]) : o[key];
        });
      }
    },
    fromStream: function (stream) {
      if (typeof stream !== "string") { fail("stream"); }
      def.streams.push(stream);
      return chain("fromStream");
    },
    fromCategory: function () {
      var args = Array.prototype.slice.call(arguments);
      if (args.length === 0) { return chain("fromCategory"); }
      if (args.length === 1 && Array.isArray(args[0])) { args = args[0]; }
      else if (args.length === 1) {
        if (typeof args[0] !== "string") { fail("category"); }
        def.categories.push(args[0]);
        return chain("fromCategory");
      }
      args.forEach(function (c) {
        if (typeof c !== "string") { fail("categories"); }
        def.streams.push("$ce-" + c);
      });
      return chain("fromCategory");
    },
    fromAll: function () { def.allStreams = true; return chain("fromAll"); },
    fromStreams: function () {
      var args = Array.isArray(arguments[0]) ? arguments[0] : Array.prototype.slice.call(arguments);
      args.forEach(function (s) {
        if (typeof s !== "string") { fail("streams"); }
        def.streams.push(s);
      });
      return chain("fromStreams");
    },
    on_event: function (name, fn) {
      if (typeof name !== "string") { fail("eventName"); }
      if (!isFn(fn)) { fail("eventHandler"); }
      addHandler(name, fn);
    },
    on_any: function (fn) {
      if (!isFn(fn)) { fail("eventHandler"); }
      addHandler("$any", fn);
    }
  };
  definitions.fromCategories = definitions.fromCategory;

  function text(value) {
    if (value === undefined || value === null) { return null; }
    return typeof value === "string" ? value : JSON.stringify(value);
  }
  function json(value) { return value === undefined ? "null" : JSON.stringify(value); }
  function needString(value, name) {
    if (typeof value === "string" && value.trim() !== "") { return value; }
    if (value === null || value === undefined || typeof value === "string") {
      fail("Value cannot be null. (Parameter '" + name + "')");
    }
    fail("string expected (Parameter '" + name + "')");
  }
  function needObject(value, name) {
    if (value === null || value === undefined) {
      fail("Value cannot be null. (Parameter '" + name + "')");
    }
    if (typeof value !== "object") { fail("object expected (Parameter '" + name + "')"); }
    return value;
  }
  function extra(metadata, raw) {
    var out = {};
    Object.keys(metadata).forEach(function (key) {
      var v = metadata[key];
      if (v === undefined) { return; }
      out[key] = raw && typeof v === "string" ? JSON.stringify(v) : json(v);
    });
    return out;
  }
  var runtime = {
    emit: function (stream, type, body, metadata) {
      if (arguments.length < 3) { fail("invalid number of parameters"); }
      stream = needString(stream, "streamId");
      type = needString(type, "eventName");
      body = needObject(body, "eventBody");
      if (arguments.length === 4 && (metadata === null || typeof metadata !== "object")) {
        fail("object expected (Parameter 'metadata')");
      }
      emitted.push({ s: stream, t: type, d: JSON.stringify(body), j: true,
        m: arguments.length === 4 ? extra(metadata, false) : null });
    },
    linkTo: function (stream, event, metadata) {
      if (arguments.length !== 2 && arguments.length !== 3) { fail("wrong number of parameters"); }
      stream = needString(stream, "streamId");
      event = needObject(event, "event");
      if (typeof event.sequenceNumber !== "number" || typeof event.streamId !== "string") {
        fail("Invalid link to event " + event.sequenceNumber + "@" + event.streamId);
      }
      emitted.push({ s: stream, t: "$>", d: Math.trunc(event.sequenceNumber) + "@" + event.streamId,
        j: false, m: arguments.length === 3 ? extra(needObject(metadata, "metaData"), true) : null });
    },
    linkStreamTo: function (stream, linked, metadata) {
      stream = needString(stream, "streamId");
      linked = needString(linked, "linkedStreamId");
      emitted.push({ s: stream, t: "$@", d: linked, j: false,
        m: arguments.length === 3 && metadata ? extra(metadata, true) : null });
    },
    copyTo: function () { return undefined; }
  };
  function log() {
    var parts = Array.prototype.slice.call(arguments).map(function (v) {
      return typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
    });
    if (logs.length < 1000) { logs.push(parts.join(" ")); }
  }

  function Envelope(item, partition) {
    this.streamId = item.streamId;
    this.sequenceNumber = item.sequenceNumber;
    this.eventType = item.eventType;
    this.bodyRaw = item.bodyRaw;
    this.metadataRaw = item.metadataRaw;
    this.linkMetadataRaw = item.linkMetadataRaw;
    this.isJson = item.isJson;
    this.eventId = item.eventId;
    this.category = item.category;
    this.partition = partition;
  }
  function parsed(raw) { return raw === null || raw === undefined || raw === "" ? undefined : JSON.parse(raw); }
  Object.defineProperty(Envelope.prototype, "body", { get: function () {
    if (!this.isJson) { return undefined; }
    if (!("_body" in this)) { Object.defineProperty(this, "_body", { value: parsed(this.bodyRaw) }); }
    return this._body;
  }, enumerable: true });
  Object.defineProperty(Envelope.prototype, "data", { get: function () { return this.body; }, enumerable: true });
  Object.defineProperty(Envelope.prototype, "metadata", { get: function () {
    if (!("_metadata" in this)) { Object.defineProperty(this, "_metadata", { value: parsed(this.metadataRaw) }); }
    return this._metadata;
  }, enumerable: true });
  Object.defineProperty(Envelope.prototype, "linkMetadata", { get: function () {
    if (!("_link" in this)) { Object.defineProperty(this, "_link", { value: parsed(this.linkMetadataRaw) }); }
    return this._link;
  }, enumerable: true });

  function initial() { return init === null ? {} : init(); }
  function ensureShared() {
    if (!hasShared) { shared = initShared === null ? {} : initShared(); hasShared = true; }
  }
  function transform(state) {
    for (var i = 0; i < transforms.length; i++) {
      var kind = transforms[i][0], fn = transforms[i][1];
      if (kind === "t") { state = fn(state); }
      else {
        var keep = fn(state);
        if (keep !== true) { return null; }
      }
      if (state === null || state === undefined) { return null; }
    }
    return state;
  }
  function resultOf(state) {
    if (state === null || state === undefined) { return null; }
    return text(def.definesStateTransform ? transform(state) : state);
  }

  function partitionOf(item, envelope) {
    if (def.byStreams) { return item.streamId; }
    if (partitionFn === null) { return ""; }
    var key = partitionFn(envelope);
    if (typeof key === "number") { return String(key); }
    return typeof key === "string" ? key : null;
  }
  function stateFor(partition, envelope, outcome) {
    if (!states.has(partition)) {
      states.set(partition, initial());
      if (partition !== "") {
        outcome.created = true;
        for (var i = 0; i < created.length; i++) {
          created[i].call(undefined, states.get(partition), envelope);
        }
      }
    }
    return states.get(partition);
  }
  function runOne(item) {
    var outcome = { created: false };
    var partition;
    if (item.deleted) {
      partition = item.streamId;
      var before = stateFor(partition, null, outcome);
      if (deleted !== null) { deleted.call(api, before, null, partition, false); }
      dirty.add(partition);
      return [partition, outcome];
    }
    var envelope = new Envelope(item, "");
    partition = partitionOf(item, envelope);
    if (partition === null) { return null; }
    envelope.partition = partition;
    var state = stateFor(partition, envelope, outcome);
    if (item.isJson && (item.bodyRaw === null || item.bodyRaw.trim() === "")) {
      return [partition, outcome];
    }
    var fn = handlers[item.eventType] || any;
    var argument = state;
    if (def.biState) { ensureShared(); argument = [state, shared]; }
    var updated = fn ? fn(argument, envelope) : item.bodyRaw;
    if (updated === undefined) { updated = argument; }
    if (def.biState && Array.isArray(updated)) {
      states.set(partition, updated[0]);
      shared = updated[1];
    } else {
      states.set(partition, updated);
    }
    dirty.add(partition);
    return [partition, outcome];
  }

  var api = {
    definition: function () { return JSON.stringify(def); },
    process: function (items) {
      var out = [], error = null;
      for (var i = 0; i < items.length; i++) {
        emitted = [];
        var done;
        try { done = runOne(items[i]); }
        catch (e) {
          error = [i, (e && e.message ? e.message : String(e)) + "\r\n" + ((e && e.stack) || "")];
          break;
        }
        if (done === null) { out.push([i, null, 0, null, [], 0]); continue; }
        var partition = done[0], flags = done[1];
        var result = null, changed = 0;
        if (def.outputState) {
          result = resultOf(states.get(partition));
          var key = partition;
          if (!results.has(key) || results.get(key) !== result) {
            results.set(key, result);
            changed = 1;
          }
        }
        if (changed || emitted.length || flags.created || items[i].deleted) {
          out.push([i, partition, changed, result, emitted, flags.created ? 1 : 0]);
        } else {
          out.push(i);
        }
      }
      emitted = [];
      return JSON.stringify({ o: out, e: error });
    },
    snapshot: function (everything) {
      var out = {};
      var keys = everything ? Array.from(states.keys()) : Array.from(dirty);
      keys.forEach(function (p) {
        var state = states.get(p);
        out[p] = [text(state), def.outputState || def.definesStateTransform ? resultOf(state) : text(state)];
      });
      if (def.biState && hasShared) { out[""] = [text(shared), null]; }
      dirty.clear();
      return JSON.stringify(out);
    },
    load: function (loaded) {
      Object.keys(loaded).forEach(function (p) {
        var entry = loaded[p];
        var value = entry[0] === null ? null : JSON.parse(entry[0]);
        if (def.biState && p === "") { shared = value; hasShared = true; }
        else { states.set(p, value); }
        results.set(p, entry[1]);
      });
    },
    reset: function () {
      states = new Map(); results = new Map(); dirty = new Set(); hasShared = false; shared = undefined;
    },
    state: function (p) {
      if (def.biState && p === "" && hasShared) { return text(shared); }
      return states.has(p) ? text(states.get(p)) : null;
    },
    result: function (p) { return states.has(p) ? resultOf(states.get(p)) : null; },
    initializeRoot: function () {
      if (!def.byStreams && partitionFn === null && !states.has("")) { states.set("", initial()); }
      if (def.biState) { ensureShared(); }
    },
    logs: function () { var out = logs; logs = []; return JSON.stringify(out); }
  };
  api.switchToExecution = function () {
    Object.keys(definitions).forEach(function (name) { delete g[name]; });
    Object.keys(runtime).forEach(function (name) {
      Object.defineProperty(g, name, { value: runtime[name], writable: true, configurable: true });
    });
  };
  Object.keys(definitions).forEach(function (name) {
    Object.defineProperty(g, name, { value: definitions[name], writable: true, configurable: true });
  });
  Object.defineProperty(g, "log", { value: log, writable: true, configurable: true });
  Object.defineProperty(g, "__esdb", { value: api, writable: false, configurable: false });
})(globalThis);
"""

SWITCH: Final = "__esdb.switchToExecution(); __esdb.definition()"
