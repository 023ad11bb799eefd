"""TypeScript stubs from protos/buf.gen.yaml (buf generate with protoc-gen-es v2 from npm):
the files exist and hold the service and its messages, they type-check under tsc --strict,
and, compiled and run by node, their embedded descriptors load (custom options included) and
encode a request the Python stubs decode."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from generated.revox.campaigns.v1 import campaign_service_pb2 as pb

from . import PROTOS, ensure_node_modules, node_or_skip, run

pytestmark = pytest.mark.timeout(300)  # a first `npm ci` included

BUF = Path(sys.executable).parent / "buf"
GENERATED = "gen/ts/revox/campaigns/v1"

# Uses the generated code as a TypeScript team would: typed construction, the binary codec,
# the service descriptor, and the literal a CampaignStatus value carries as a custom option.
CHECK_TS = """\
import { create, fromBinary, getOption, toBinary } from "@bufbuild/protobuf";
import { CampaignStatus, CampaignStatusSchema } from "./gen/ts/revox/campaigns/v1/campaign_pb.js";
import {
  CampaignService,
  CreateCampaignRequestSchema,
  type WatchCampaignRowsResponse,
} from "./gen/ts/revox/campaigns/v1/campaign_service_pb.js";
import { literal } from "./gen/ts/revox/campaigns/v1/options_pb.js";

const request = create(CreateCampaignRequestSchema, {
  assistantId: "asst_demo",
  name: "TypeScript",
  requestId: "ts-stubs-1",
  contacts: [{ toPhoneNumber: "+33612340000", promptVariables: { first_name: "Ada" } }],
  callRetryConfig: {
    maxRetryAttempts: 2,
    timezone: "Europe/Paris",
    callingWindows: [
      { callingWindowStartTime: "9am", callingWindowEndTime: "18:00", retryDelaySeconds: 600 },
    ],
  },
  maxConcurrentCalls: 2,
});
const bytes = toBinary(CreateCampaignRequestSchema, request);
const back = fromBinary(CreateCampaignRequestSchema, bytes);
const kind = (m: WatchCampaignRowsResponse): string => m.event.case ?? "none";
console.log(JSON.stringify({
  service: CampaignService.typeName,
  methods: CampaignService.methods.map((m) => [m.name, m.methodKind]),
  create_input: CampaignService.method.createCampaign.input.typeName,
  round_trip: back.contacts[0]?.toPhoneNumber,
  request: Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""),
  running_literal: getOption(CampaignStatusSchema.value[CampaignStatus.RUNNING], literal),
  empty_event: kind(create(CampaignService.method.watchCampaignRows.output)),
}));
"""

TSC_FLAGS = (
    "--strict", "--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext",
    "--outDir", "js",
)


async def test_buf_generate_writes_typescript_that_compiles_and_speaks_the_wire_format(
    tmp_path: Path,
) -> None:
    node = node_or_skip()
    node_modules = await ensure_node_modules()
    code, out = await run(str(BUF), "generate", "-o", str(tmp_path), cwd=PROTOS, timeout=60)
    assert code == 0, out

    generated = {p.name: p.read_text() for p in (tmp_path / GENERATED).glob("*.ts")}
    contract = {p.stem + "_pb.ts" for p in (PROTOS / "revox/campaigns/v1").glob("*.proto")}
    assert contract <= set(generated), (sorted(contract), sorted(generated))
    assert (tmp_path / "gen/ts/google/api/field_behavior_pb.ts").exists()  # an import, generated
    assert not (tmp_path / "gen/ts/google/rpc").exists()  # third_party itself is no input
    service = generated["campaign_service_pb.ts"]
    assert "export const CampaignService: GenService<" in service
    for rpc in ("createCampaign", "getCampaign", "listCampaignRows", "watchCampaignRows"):
        assert f"  {rpc}: {{" in service, rpc
    for message in ("CreateCampaignRequest", "WatchCampaignRowsResponse", "RowChange"):
        assert f"export type {message} = Message<\"revox.campaigns.v1.{message}\">" in service
    assert 'export type Campaign = Message<"revox.campaigns.v1.Campaign">' in generated["campaign_pb.ts"]
    assert 'export type Row = Message<"revox.campaigns.v1.Row">' in generated["row_pb.ts"]

    # Type-check and compile with the pinned tsc, then run on node (ESM, as nodenext emits it).
    (tmp_path / "node_modules").symlink_to(node_modules, target_is_directory=True)
    (tmp_path / "package.json").write_text('{"type": "module"}\n')
    (tmp_path / "check.ts").write_text(CHECK_TS)
    sources = ["check.ts", *(str(p.relative_to(tmp_path)) for p in tmp_path.glob("gen/ts/**/*.ts"))]
    code, out = await run(node, str(node_modules / "typescript/bin/tsc"), *TSC_FLAGS, *sources,
                          cwd=tmp_path, timeout=120)
    assert code == 0, f"tsc:\n{out}"
    code, out = await run(node, "js/check.js", cwd=tmp_path, timeout=30)
    assert code == 0, out
    result = json.loads(out)

    assert result["service"] == "revox.campaigns.v1.CampaignService"
    methods = dict(result["methods"])
    assert methods["CreateCampaign"] == "unary" and methods["GetCampaign"] == "unary"
    assert methods["WatchCampaignRows"] == methods["ExportCampaignRows"] == "server_streaming"
    assert set(methods) == {m.name for m in pb.DESCRIPTOR.services_by_name["CampaignService"].methods}
    assert result["create_input"] == "revox.campaigns.v1.CreateCampaignRequest"
    assert result["round_trip"] == "+33612340000"
    assert result["running_literal"] == "running"
    assert result["empty_event"] == "none"

    # The bytes TypeScript wrote are the request the Python stubs (and the gateway) read.
    request = pb.CreateCampaignRequest.FromString(bytes.fromhex(result["request"]))
    assert request.assistant_id == "asst_demo" and request.request_id == "ts-stubs-1"
    assert request.contacts[0].prompt_variables["first_name"] == "Ada"
    assert request.call_retry_config.calling_windows[0].retry_delay_seconds == 600
    assert request.HasField("max_concurrent_calls") and request.max_concurrent_calls == 2
