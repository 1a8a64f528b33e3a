"""A BART-architecture summarizer warm-started from a pretrained BERT-family encoder (the embedded MiniLM).

No pretrained sequence-to-sequence model is published on PyPI, so the offline default is
built the way "Leveraging Pre-trained Checkpoints for Sequence Generation Tasks" (Rothe et
al., 2020) builds BERT2BERT, in BART's layout: both stacks take the encoder's layers.

BERT and BART layers compute the same thing (post-LayerNorm, GELU, scaled dot-product
attention), so the copy is exact: the BART encoder with MiniLM's weights gives MiniLM's
hidden states (BART's LayerNorm epsilon is 1e-5, BERT's 1e-12: a difference of about
1e-6). The token-type embedding of segment 0, which BERT adds to every position, is folded
into BART's learned positions (offset by 2, as BART's are). The decoder's self-attention
and feed-forward blocks start from the same MiniLM layers; its cross-attention, which
BERT has no counterpart for, starts fresh. Embeddings are shared and the LM head tied.
"""

from __future__ import annotations

from typing import cast

from green.errors import GreenError

#: The generation defaults of the warm-started summarizer: beam search as BART's summarizers use it,
#: sized for one-line descriptions (median 5 words); a recipe can override any of them.
DEFAULT_GENERATION = {"num_beams": 4, "max_length": 32, "min_length": 3, "no_repeat_ngram_size": 3,
                      "length_penalty": 1.0, "early_stopping": True}


def is_bert_encoder(config) -> bool:
    """True for a BERT-layout encoder (BERT, MiniLM) that :func:`bart_from_bert` can take apart."""
    return getattr(config, "model_type", None) == "bert" and not getattr(config, "is_encoder_decoder", False)


def bart_config_from_bert(bert_config, tokenizer, decoder_layers: int | None = None):
    """A BART config with the encoder's widths, vocabulary and special tokens ([CLS] starts, [SEP] ends)."""
    from transformers import BartConfig

    if getattr(bert_config, "hidden_act", "gelu") != "gelu":
        raise GreenError(f"warm start needs a GELU encoder, not {bert_config.hidden_act!r}", "use a BERT/MiniLM model")
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    if cls_id is None or sep_id is None:
        raise GreenError("warm start needs a tokenizer with [CLS] and [SEP] tokens", "use the encoder's own tokenizer")
    return BartConfig(
        vocab_size=bert_config.vocab_size,
        d_model=bert_config.hidden_size,
        encoder_layers=bert_config.num_hidden_layers,
        decoder_layers=decoder_layers or bert_config.num_hidden_layers,
        encoder_attention_heads=bert_config.num_attention_heads,
        decoder_attention_heads=bert_config.num_attention_heads,
        encoder_ffn_dim=bert_config.intermediate_size,
        decoder_ffn_dim=bert_config.intermediate_size,
        activation_function="gelu",
        max_position_embeddings=bert_config.max_position_embeddings,
        dropout=bert_config.hidden_dropout_prob,
        attention_dropout=bert_config.attention_probs_dropout_prob,
        activation_dropout=0.0,
        init_std=bert_config.initializer_range,
        scale_embedding=False,
        pad_token_id=pad_id,
        bos_token_id=cls_id,
        eos_token_id=sep_id,
        decoder_start_token_id=cls_id,
        forced_eos_token_id=sep_id,
        tie_word_embeddings=True,
    )


def _copy(dst, src) -> None:
    dst.weight.data.copy_(src.weight.data)
    if getattr(dst, "bias", None) is not None and getattr(src, "bias", None) is not None:
        dst.bias.data.copy_(src.bias.data)


def _copy_layer(bart_layer, bert_layer) -> None:
    """Self-attention and feed-forward of one BERT layer into one BART layer (encoder or decoder)."""
    att = bert_layer.attention
    _copy(bart_layer.self_attn.q_proj, att.self.query)
    _copy(bart_layer.self_attn.k_proj, att.self.key)
    _copy(bart_layer.self_attn.v_proj, att.self.value)
    _copy(bart_layer.self_attn.out_proj, att.output.dense)
    _copy(bart_layer.self_attn_layer_norm, att.output.LayerNorm)
    _copy(bart_layer.fc1, bert_layer.intermediate.dense)
    _copy(bart_layer.fc2, bert_layer.output.dense)
    _copy(bart_layer.final_layer_norm, bert_layer.output.LayerNorm)


def bart_from_bert(encoder_ref: str, tokenizer, decoder_layers: list[int] | None = None):
    """A ``BartForConditionalGeneration`` initialised from the BERT-family encoder at ``encoder_ref``.

    ``decoder_layers`` picks which encoder layers the decoder's layers start from (all, in
    order, by default). Returns the model with :data:`DEFAULT_GENERATION` as its generation config.

    >>> from green.models import embedded_model_path, load_tokenizer
    >>> ref = str(embedded_model_path())
    >>> model = bart_from_bert(ref, load_tokenizer(ref))    # doctest: +SKIP
    """
    import torch
    from transformers import BartForConditionalGeneration, BertModel, GenerationConfig

    from green.models import SAFE_LOAD, load_error

    try:  # SAFE_LOAD: a pytorch_model.bin beside some other *.safetensors is never unpickled
        bert = BertModel.from_pretrained(encoder_ref, add_pooling_layer=False, **SAFE_LOAD).eval()
    except (OSError, ValueError, KeyError) as exc:
        raise load_error(encoder_ref, exc) from None
    n = bert.config.num_hidden_layers
    picks = list(range(n)) if decoder_layers is None else list(decoder_layers)
    if any(not 0 <= i < n for i in picks):
        raise GreenError(f"decoder layers {picks} are not layers of a {n}-layer encoder", f"use indices 0 to {n - 1}")
    config = bart_config_from_bert(bert.config, tokenizer, len(picks))
    model = BartForConditionalGeneration(config)
    emb = bert.embeddings
    with torch.no_grad():
        model.model.shared.weight.copy_(emb.word_embeddings.weight)
        # BERT adds segment 0's embedding at every position; BART has no segments, so fold it in.
        positions = emb.position_embeddings.weight + emb.token_type_embeddings.weight[0]
        for stack in (model.model.encoder, model.model.decoder):
            stack.embed_positions.weight.zero_()
            stack.embed_positions.weight[2 : 2 + positions.shape[0]].copy_(positions)
            _copy(stack.layernorm_embedding, emb.LayerNorm)
        for i, layer in enumerate(model.model.encoder.layers):
            _copy_layer(layer, bert.encoder.layer[i])
        for layer, src in zip(model.model.decoder.layers, picks):
            _copy_layer(layer, bert.encoder.layer[src])
        # A registered buffer: torch types a Module's attributes as Tensor | Module.
        cast("torch.Tensor", model.final_logits_bias).zero_()
    model.tie_weights()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=config.decoder_start_token_id, bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id,
        forced_eos_token_id=config.forced_eos_token_id, **DEFAULT_GENERATION)
    model.config.green_warm_start = {"from": "bert", "encoder": str(encoder_ref), "decoder_layers": picks}
    return model
