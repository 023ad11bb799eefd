#!/usr/bin/env node
// A Node client of revox.campaigns.v1.CampaignService, built at run time from protos/ with
// @grpc/proto-loader (no generated code): the pattern a Node team copies. It walks through
// create, get, list rows, a refused create (decoding google.rpc.BadRequest from the
// grpc-status-details-bin trailer) and a watch, and prints one JSON line per step on stdout
// for tests/clients/test_node_client.py. Exit 0 on success, 1 with a message on stderr.
//
//   node client.js --address 127.0.0.1:50051 --api-key sk_test_... [--protos DIR] [--timeout S]
//   (or REVOX_GATEWAY_ADDRESS, REVOX_API_KEY, REVOX_PROTOS, REVOX_CLIENT_TIMEOUT)
//
// The watch step reads until a row changes after the snapshot: something must move the
// campaign's calls on (the test advances the simulator's clock once it sees the
// `watch_snapshot` line).
"use strict";

const path = require("node:path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");
const protobuf = require("protobufjs");

function options(argv, env) {
  const flags = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--") || i + 1 >= argv.length) {
      throw new Error(`bad argument ${argv[i]}: expected --name value pairs`);
    }
    flags[argv[i].slice(2)] = argv[i + 1];
  }
  const protos = flags.protos || env.REVOX_PROTOS || path.resolve(__dirname, "../../../protos");
  const opts = {
    address: flags.address || env.REVOX_GATEWAY_ADDRESS,
    apiKey: flags["api-key"] || env.REVOX_API_KEY,
    protos,
    timeoutSeconds: Number(flags.timeout || env.REVOX_CLIENT_TIMEOUT || 60),
  };
  if (!opts.address) throw new Error("no gateway address: --address or REVOX_GATEWAY_ADDRESS");
  if (!opts.apiKey) throw new Error("no API key: --api-key or REVOX_API_KEY");
  return opts;
}

// The contract, as proto-loader objects: keepCase keeps field names as in the .proto
// (snake_case, as grpcurl and the Python stubs show them); enums and 64-bit integers as
// strings; defaults filled in; a oneof's case in a field named after it (`event`).
const LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

function loadService(protos) {
  const definition = protoLoader.loadSync("revox/campaigns/v1/campaign_service.proto", {
    ...LOADER_OPTIONS,
    includeDirs: [protos, path.join(protos, "third_party")],
  });
  return grpc.loadPackageDefinition(definition).revox.campaigns.v1.CampaignService;
}

// google.rpc.Status and its details, read with protobufjs from the googleapis protos that
// `make install` copies into protos/third_party (google/protobuf/*.proto are built in).
function loadStatusTypes(protos) {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(protos, "third_party", target);
  root.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"], { keepCase: true });
  return root;
}

function richStatus(root, error) {
  const raw = error.metadata && error.metadata.get("grpc-status-details-bin")[0];
  if (!raw) return null;
  const status = root.lookupType("google.rpc.Status").decode(raw);
  const details = status.details.map((any) => {
    const typeName = any.type_url.slice(any.type_url.lastIndexOf("/") + 1);
    const type = root.lookupType(typeName);
    return { type: typeName, value: type.toObject(type.decode(any.value), { enums: String, defaults: true }) };
  });
  return { code: status.code, message: status.message, details };
}

function emit(step, fields) {
  process.stdout.write(`${JSON.stringify({ step, ...fields })}\n`);
}

function unary(client, method, request, metadata, deadline) {
  return new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline: deadline() }, (error, response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

// Reads a WatchCampaignRows stream until a row changes after the snapshot, then cancels it.
function watchUntilChange(client, campaignId, metadata, deadline) {
  return new Promise((resolve, reject) => {
    const call = client.WatchCampaignRows({ campaign_id: campaignId }, metadata, { deadline: deadline() });
    let snapshot = 0;
    let heartbeats = 0;
    let done = false;
    const finish = (outcome) => {
      if (done) return;
      done = true;
      call.cancel();
      outcome();
    };
    call.on("data", (m) => {
      if (m.event === "heartbeat") {
        heartbeats += 1;
        if (m.heartbeat.campaign_final) {
          finish(() => reject(new Error("the campaign went final before any row changed")));
        }
      } else if (m.event === "snapshot_complete") {
        emit("watch_snapshot", {
          rows: snapshot,
          row_count: m.snapshot_complete.row_count,
          revision: m.revision,
          resume_token: m.resume_token !== "",
        });
      } else if (m.event === "row_change" && m.row_change.in_snapshot) {
        snapshot += 1;
      } else if (m.event === "row_change") {
        const change = m.row_change;
        finish(() =>
          resolve({
            type: change.type,
            row_id: change.row.id,
            status: change.row.call ? change.row.call.status : null,
            previous_status: change.previous_status,
            revision: m.revision,
            heartbeats,
          }),
        );
      }
    });
    call.on("error", (error) => {
      if (done && error.code === grpc.status.CANCELLED) return;
      finish(() => reject(error));
    });
    call.on("end", () => finish(() => reject(new Error("the watch ended before any row changed"))));
  });
}

function createRequest(requestId, contacts) {
  return {
    assistant_id: "asst_demo",
    name: "Node client",
    request_id: requestId,
    contacts,
    call_retry_config: {
      max_retry_attempts: 2,
      timezone: "Europe/Paris",
      calling_windows: [
        { calling_window_start_time: "9am", calling_window_end_time: "18:00", retry_delay_seconds: 600 },
      ],
    },
    max_concurrent_calls: 2,
  };
}

async function main() {
  const opts = options(process.argv.slice(2), process.env);
  const CampaignService = loadService(opts.protos);
  const statusTypes = loadStatusTypes(opts.protos);
  const client = new CampaignService(opts.address, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${opts.apiKey}`);
  const deadline = () => new Date(Date.now() + opts.timeoutSeconds * 1000);
  try {
    const contacts = [0, 1, 2].map((i) => ({
      to_phone_number: `+3361234${String(i).padStart(4, "0")}`,
      prompt_variables: { first_name: `Ada ${i}` },
    }));
    const requestId = `node-client-${process.pid}-${Date.now()}`;
    const created = await unary(client, "CreateCampaign", createRequest(requestId, contacts), metadata, deadline);
    emit("create", { id: created.id, name: created.name, status: created.status });

    const got = await unary(client, "GetCampaign", { id: created.id }, metadata, deadline);
    emit("get", { id: got.id, name: got.name, assistant_id: got.assistant_id });

    const rows = await unary(
      client, "ListCampaignRows", { campaign_id: created.id, page: 0, page_size: 10 }, metadata, deadline,
    );
    emit("list_rows", {
      count: rows.rows.length,
      ids: rows.rows.map((r) => r.id),
      phone_numbers: rows.rows.map((r) => r.phone_number),
      statuses: rows.rows.map((r) => (r.call ? r.call.status : null)),
    });

    try {
      await unary(client, "CreateCampaign", createRequest("", []), metadata, deadline);
      throw new Error("CreateCampaign without contacts succeeded");
    } catch (error) {
      if (error.code === undefined) throw error;
      const status = richStatus(statusTypes, error);
      const badRequest = status && status.details.find((d) => d.type === "google.rpc.BadRequest");
      const errorInfo = status && status.details.find((d) => d.type === "google.rpc.ErrorInfo");
      emit("invalid_create", {
        code: grpc.status[error.code],
        status_code: status && status.code,
        details: status ? status.details.map((d) => d.type) : [],
        fields: badRequest ? badRequest.value.field_violations.map((v) => v.field) : [],
        reason: errorInfo ? errorInfo.value.reason : null,
        domain: errorInfo ? errorInfo.value.domain : null,
      });
    }

    emit("watch_change", await watchUntilChange(client, created.id, metadata, deadline));
  } finally {
    client.close();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    const code = error.code !== undefined ? ` (${grpc.status[error.code]})` : "";
    process.stderr.write(`node client failed${code}: ${error.stack || error}\n`);
    process.exit(1);
  },
);
