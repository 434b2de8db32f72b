#pragma once
// medenc: run and fine-tune clinical text encoders (ModernBERT, BERT, Megatron-BERT) from Hugging
// Face checkpoints. Start with medenc/session.h (Model, Session and the request-level calls).
#include "medenc/error.h"
#include "medenc/results.h"
#include "medenc/session.h"
#include "medenc/tokenizer.h"
#include "medenc/version.h"
