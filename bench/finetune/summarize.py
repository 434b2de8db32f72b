#!/usr/bin/env python3
"""Prints the results of one fine-tuning benchmark run (summarize.py roco|medmentions|mlm OUT)."""
import json
import os
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def training(out):
    state = load(os.path.join(out, "model", "trainer_state.json"))
    final = state["log_history"][-1]
    best = state.get("best_model_checkpoint")
    return (f"training: {state['global_step']} steps, {final['epoch']:.2f} epochs in {final['train_runtime'] / 60:.1f} min, "
            f"{final['train_tokens_per_second']:.0f} tokens/s, final train loss {final['train_loss']:.4f}"
            + (f", best checkpoint {os.path.basename(best)} (eval {state['best_metric']:.4f})" if best else ""))


def main():
    task, out = sys.argv[1], sys.argv[2]
    print(training(out))
    m = load(os.path.join(out, "test_metrics.json"))["metrics"]
    if task == "roco":
        t = load(os.path.join(out, "test_metrics_tuned.json"))["metrics"]
        for name, x in (("threshold 0.5", m), ("per-label thresholds tuned on dev", t)):
            print(f"test ({name}): F1 micro {x['f1']:.4f} (P {x['precision_micro']:.4f}, R {x['recall_micro']:.4f}), "
                  f"F1 macro {x['f1_macro']:.4f}, exact match {x['exact_match']:.4f}, "
                  f"Hamming loss {x['hamming_loss']:.4f}, label accuracy {x['label_accuracy']:.4f}")
    elif task == "medmentions":
        print(f"test: entity F1 micro {m['f1']:.4f} (P {m['precision']:.4f}, R {m['recall']:.4f}), "
              f"F1 macro over types {m['f1_macro']:.4f}, strict IOB2 F1 {m['strict_f1']:.4f}, "
              f"word accuracy {m['accuracy']:.4f}, Matthews {m['matthews']:.4f} "
              f"({m['gold_entities']} gold entities, {m['sequences']} sentences)")
        per = sorted(m["per_type"].items(), key=lambda kv: -kv[1]["support"])
        print("per type (support, F1): " + ", ".join(f"{k} {v['support']} {v['f1']:.2f}" for k, v in per))
    elif task == "mlm":
        print(f"test ({m['masked_tokens']} masked tokens, 15%): loss {m['loss']:.4f}, top-1 {m['top1_accuracy']:.4f}, "
              f"top-5 {m['top5_accuracy']:.4f}, top-10 {m['top10_accuracy']:.4f}, top-25 {m['top25_accuracy']:.4f}")

if __name__ == "__main__":
    main()
