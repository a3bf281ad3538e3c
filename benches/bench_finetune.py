"""Fine-tuning throughput (examples/s): xadj's ``finetune`` vs. the reference path of Hugging
Face's ``run_xnli.py`` (inputs padded to max length 128, ``default_data_collator``, ``Trainer``
with its random sampler, AdamW and linear decay), on the same XNLI-shaped data (Multi30k
captions as premise/hypothesis pairs), model, device, batch size, seed and epochs. Both rates
are for the training loop alone (xadj: its logged examples/s over the whole loop; Trainer: its
``train_samples_per_second``); the whole-call wall times (load, tokenize, train, save) too.
Also: XSR encoding (sentences/s through ``xadj.encode``) and QA evaluation (examples/s through
``xadj.evaluate`` on XQuAD-shaped rows).

    python benches/bench_finetune.py [--examples 1024] [--model tiny|base] [--device cpu|cuda]

``--model base`` is a randomly initialised BERT-base-sized encoder (12 layers, 768 wide) with the
tiny model's tokenizer: the compute of mBERT without downloading it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

from bench_data import multi30k_train


def xnli_rows(n: int) -> list[dict]:
    data = multi30k_train("fr")
    print(f"data: {data.origin}", file=sys.stderr)
    english = data.english
    return [{"premise": english[i % len(english)],
             "hypothesis": english[(i * 7 + 3) % len(english)], "label": i % 3}
            for i in range(n)]


def model_dir(kind: str, where: Path) -> str:
    from xadj.model import resolve_model

    tiny = resolve_model("tiny")
    if kind == "tiny":
        return tiny
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    import torch

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), max_position_embeddings=512)
    target = where / "base"
    BertModel(config).save_pretrained(target)
    tokenizer.model_max_length = 512
    tokenizer.save_pretrained(target)
    return str(target)


def run_xadj(model: str, data: Path, out: Path, args: argparse.Namespace) -> tuple[float, float]:
    from xadj.finetune import FinetuneConfig, finetune

    steps = -(-args.examples // args.batch_size) * args.epochs
    config = FinetuneConfig(task="xnli", model=model, output_dir=str(out), data=str(data),
                            batch_size=args.batch_size, epochs=args.epochs, seed=42,
                            cpu=args.device == "cpu", log_every=steps, checkpoint_every=None,
                            mixed_precision=args.mixed_precision)
    start = time.perf_counter()
    finetune(config, progress=False)
    wall = time.perf_counter() - start
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return float(logged[-1]["examples_per_s"]), wall


def run_reference(model: str, rows: list[dict], out: Path, args: argparse.Namespace
                  ) -> tuple[float, float]:
    """run_xnli.py's path: tokenize with padding="max_length", max_length 128, truncation; a
    fresh classification head; Trainer.train with the same hyperparameters."""
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        Trainer,
        TrainingArguments,
        default_data_collator,
        set_seed,
    )

    start = time.perf_counter()
    set_seed(42)
    tokenizer = AutoTokenizer.from_pretrained(model)
    dataset = Dataset.from_list(rows).map(
        lambda b: tokenizer(b["premise"], b["hypothesis"], padding="max_length", max_length=128,
                            truncation=True), batched=True)
    head = AutoModelForSequenceClassification.from_pretrained(model, num_labels=3)
    training = TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=args.batch_size, learning_rate=5e-5,
        num_train_epochs=args.epochs, seed=42, report_to=[], save_strategy="no",
        logging_strategy="no", use_cpu=args.device == "cpu", disable_tqdm=True,
        bf16=args.mixed_precision == "bf16", fp16=args.mixed_precision == "fp16")
    trainer = Trainer(model=head, args=training, train_dataset=dataset,
                      data_collator=default_data_collator)
    metrics = trainer.train().metrics
    trainer.save_model(str(out / "model"))
    return float(metrics["train_samples_per_second"]), time.perf_counter() - start


def xsr_rate(model: str, args: argparse.Namespace) -> float:
    from transformers import AutoModel, AutoTokenizer

    from xadj.sentence_vectors import encode

    data = multi30k_train("fr")
    sentences = (data.other + data.english)[: args.sentences]
    encoder, tokenizer = AutoModel.from_pretrained(model), AutoTokenizer.from_pretrained(model)
    start = time.perf_counter()
    encode(encoder, tokenizer, sentences, batch_size=64, device=args.device, progress=False)
    return len(sentences) / (time.perf_counter() - start)


def qa_rate(model: str, where: Path, args: argparse.Namespace) -> float:
    """QA evaluation (windows, forward, n-best post-processing, EM/F1) on XQuAD-shaped rows:
    Multi30k captions as contexts (five a paragraph), a span of one as the answer."""
    from transformers import AutoModel, AutoModelForQuestionAnswering

    from xadj.evaluate import EvaluateConfig, evaluate

    data = multi30k_train("fr").english
    rows = []
    for i in range(args.qa_examples):
        sentences = [data[(5 * i + k) % len(data)] for k in range(5)]
        context = " ".join(sentences)
        answer = sentences[2].split()[1]
        rows.append({"id": str(i), "context": context, "question": f"who is {answer} ?",
                     "answers": {"text": [answer], "answer_start": [context.index(answer)]}})
    (where / "qa" / "xquad.es").mkdir(parents=True)
    (where / "qa" / "xquad.es" / "validation.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows))
    qa_model = where / "qa-model"
    AutoModelForQuestionAnswering.from_pretrained(model).save_pretrained(qa_model)
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(model).save_pretrained(qa_model)
    del AutoModel
    start = time.perf_counter()
    evaluate(EvaluateConfig(task="qa", model=str(qa_model), languages=["xquad.es"],
                            output_dir=str(where / "qa-eval"), data=str(where / "qa"),
                            max_length=128 if args.model == "tiny" else 384,
                            doc_stride=32 if args.model == "tiny" else 128,
                            cpu=args.device == "cpu"), progress=False)
    return len(rows) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--model", choices=("tiny", "base"), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--mixed-precision", choices=("no", "bf16", "fp16"), default="no")
    parser.add_argument("--sentences", type=int, default=2000, help="XSR sentences to encode")
    parser.add_argument("--qa-examples", type=int, default=200)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = model_dir(args.model, work)
        rows = xnli_rows(args.examples)
        (work / "xnli" / "en").mkdir(parents=True)
        (work / "xnli" / "en" / "train.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows))
        ref_rate, ref_wall = run_reference(model, rows, work / "ref", args)
        xadj_rate, xadj_wall = run_xadj(model, work / "xnli", work / "xadj", args)
        print(f"finetune xnli, {args.model} model, {args.examples} examples x {args.epochs} "
              f"epoch(s), batch {args.batch_size}, {args.device}:")
        print(f"  training loop: xadj {xadj_rate:.1f} examples/s, reference (Trainer, padded to "
              f"128) {ref_rate:.1f} examples/s: {xadj_rate / ref_rate:.2f}x")
        print(f"  whole call: xadj {xadj_wall:.1f} s, reference {ref_wall:.1f} s: "
              f"{ref_wall / xadj_wall:.2f}x")
        print(f"xsr encoding: {xsr_rate(model, args):.1f} sentences/s")
        print(f"qa evaluation: {qa_rate(model, work, args):.1f} examples/s")


if __name__ == "__main__":
    main()
