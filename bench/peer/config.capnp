# workerd configuration for the side-by-side benchmark (bench/run.sh): the
# counter and the WebSocket room as Durable Objects with on-disk SQLite
# storage, one file per object.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .counterWorker),
    (name = "disk", disk = (path = "storage", writable = true)),
  ],
  sockets = [(name = "http", address = "*:18788", http = (), service = "main")],
);

const counterWorker :Workerd.Worker = (
  compatibilityDate = "2024-09-23",
  modules = [(name = "worker.js", esModule = embed "worker.js"),
             (name = "room.js", esModule = embed "room.js")],
  durableObjectNamespaces = [
    (className = "Counter", uniqueKey = "dorm-bench-counter", enableSql = true),
    (className = "BenchRoom", uniqueKey = "dorm-bench-room", enableSql = true),
  ],
  durableObjectStorage = (localDisk = "disk"),
  bindings = [(name = "COUNTER", durableObjectNamespace = "Counter"),
              (name = "ROOM", durableObjectNamespace = "BenchRoom")],
);
