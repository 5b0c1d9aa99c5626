# workerd config for edgepod's push app. Build the bundle first (`npm run build:edge`), then
# `EDGEPOD_PUSH_TOKENS=secret npx workerd serve examples/edge-workerd/config.capnp`; override the
# address with `--socket-addr http=127.0.0.1:9000`.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "edgepod-push", worker = .pushWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "edgepod-push") ],
);

const pushWorker :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed "dist/worker.js") ],
  compatibilityDate = "2025-09-01",
  bindings = [
    # Comma-separated bearer tokens, read from workerd's own environment at start-up.
    (name = "EDGEPOD_PUSH_TOKENS", fromEnvironment = "EDGEPOD_PUSH_TOKENS"),
  ],
);
