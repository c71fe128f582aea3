"""
Records Hugging Face transformers' gpt-oss forward pass on a generated checkpoint, in float64, as the
fixture that tests/oracle/hf-transformers.test.ts compares cotscope against: an implementation of
the checkpoint layout written by others (MXFP4 unpacking, gate/up interleaving, sinks, YaRN, sliding
window), where our fp64 reference and our runtime are written by us.

    python3 scripts/hf-reference.py --model models/tiny --out tests/fixtures/hf-tiny

Needs torch and transformers (not installed by this project; any machine that has them will do).
The checkpoint's experts are dequantized by transformers itself (Mxfp4Config(dequantize=True)),
then the whole model is cast to float64 (exact: every bf16 value is a float64) and run on the CPU
with eager attention over one prompt of random token ids, no cache.

Writes meta.json (versions, checkpoint file hashes, token ids, shapes) and little-endian float64
arrays: logits_columns.f64 [T, C] at the columns named in meta.json, logsumexp.f64 [T],
argmax.i32 [T], router_logits.f64 [L, T, E], sink_mass.f64 [L, T, H].
"""
import argparse
import hashlib
import json
import os

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, Mxfp4Config

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--tokens", type=int, default=200)
parser.add_argument("--columns", type=int, default=128)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for piece in iter(lambda: f.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()


def load():
    # Eager experts too: transformers 5's default grouped matrix product takes no float64.
    options = dict(quantization_config=Mxfp4Config(dequantize=True), attn_implementation="eager", experts_implementation="eager", device_map={"": "cpu"})
    try:
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16, **options)
    except TypeError:
        model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.bfloat16, **options)
    return model.to(torch.float64).eval()


model = load()
config = model.config
rng = np.random.default_rng(args.seed)
tokens = rng.integers(0, config.vocab_size, size=args.tokens).astype(np.int64)
columns = np.sort(rng.choice(config.vocab_size, size=args.columns, replace=False)).astype(np.int64)

router_logits = []


def record_router(module, inputs, output):
    hidden = inputs[0].reshape(-1, module.weight.shape[1])
    router_logits.append(torch.nn.functional.linear(hidden, module.weight, module.bias).detach())


layers = model.model.layers
for layer in layers:
    layer.mlp.router.register_forward_hook(record_router)

with torch.no_grad():
    result = model(input_ids=torch.from_numpy(tokens)[None, :], output_attentions=True, use_cache=False)

logits = result.logits[0]
os.makedirs(args.out, exist_ok=True)


def write(name, tensor, dtype):
    np.ascontiguousarray(tensor.detach().cpu().numpy().astype(dtype)).tofile(os.path.join(args.out, name))


write("logits_columns.f64", logits[:, torch.from_numpy(columns)], "<f8")
write("logsumexp.f64", torch.logsumexp(logits, dim=-1), "<f8")
write("argmax.i32", torch.argmax(logits, dim=-1), "<i4")
write("router_logits.f64", torch.stack(router_logits), "<f8")
# Eager attention returns the probabilities over keys after the sink column is dropped.
if result.attentions is None or any(a is None for a in result.attentions):
    raise SystemExit("this transformers version returned no attention probabilities (output_attentions)")
write("sink_mass.f64", torch.stack([1 - a[0].sum(dim=-1).transpose(0, 1) for a in result.attentions]), "<f8")

files = sorted(f for f in os.listdir(args.model) if f.endswith(".safetensors") or f.endswith(".json"))
meta = {
    "producer": "scripts/hf-reference.py",
    "versions": {"transformers": transformers.__version__, "torch": torch.__version__, "numpy": np.__version__},
    "checkpoint": {f: sha256(os.path.join(args.model, f)) for f in files},
    "dtype": "float64",
    "tokens": tokens.tolist(),
    "columns": columns.tolist(),
    "shapes": {
        "logits_columns.f64": [len(tokens), len(columns)],
        "logsumexp.f64": [len(tokens)],
        "argmax.i32": [len(tokens)],
        "router_logits.f64": [len(layers), len(tokens), config.num_local_experts],
        "sink_mass.f64": [len(layers), len(tokens), config.num_attention_heads],
    },
}
with open(os.path.join(args.out, "meta.json"), "w") as f:
    json.dump(meta, f, indent=1)
print(json.dumps({k: meta[k] for k in ("versions", "shapes")}))
print("argmax", meta["tokens"][:4], np.fromfile(os.path.join(args.out, "argmax.i32"), "<i4")[:8].tolist())
