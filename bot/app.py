"""Wiring: build the engine from settings, loading models once per process."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.conversation.engine import Engine
from bot.logs import mask_url
from bot.responder.base import Responder
from bot.responder.composer import ComposerResponder
from bot.settings import Settings
from bot.storage.connect import open_store
from bot.storage.interface import Store
from bot.understanding import words
from bot.understanding.emotion_model import default_detector
from knowledge import finetune
from knowledge.base import KnowledgeBase, merge
from knowledge.embedders import Embedder
from knowledge.entries import Entry
from knowledge.loader import load_paths

log = logging.getLogger("ondo")


def load_embedders(tuned: Path | None = None) -> list[Embedder]:
    """The two bundled sentence models (English MiniLM, multilingual USE), warmed up;
    ``tuned``: fine-tuned MiniLM weights (``ondo kb train``) to run instead of the bundled ones.

    USE loads its weights on first use, and each model's first call sets up its kernels:
    one throwaway embedding here keeps that out of the first customer's reply.
    """
    from knowledge.embedders import MiniLMEmbedder, USEEmbedder

    minilm = MiniLMEmbedder(weights=tuned, tag=tuned_tag(tuned) if tuned else None)
    embedders: list[Embedder] = [minilm, USEEmbedder()]
    for embedder in embedders:
        embedder.embed(["warm up"])
    return embedders


def encoder_folder(settings: Settings) -> Path | None:
    """Where tuned encoders are stored: the database's folder (none for an in-memory one; the
    working folder beside a shared database, where each replica keeps its own copy)."""
    if settings.db_path == ":memory:":
        return None
    if settings.shared_db:
        return Path.cwd().resolve()
    return Path(settings.db_path).resolve().parent


def tuned_tag(path: Path) -> str:
    """The name tag of a stored tuned encoder: the first 12 hex digits of its knowledge hash."""
    return path.stem.removeprefix(finetune.PREFIX)[:12]


def tuned_encoder(settings: Settings, entries: Sequence[Entry]) -> Path | None:
    """The tuned encoder ``ondo kb train`` stored for exactly these entries, if any."""
    folder = encoder_folder(settings)
    return finetune.tuned_for(entries, folder) if folder is not None else None


def build_responder(
    settings: Settings, staff_text: Callable[[str], bool] | None = None
) -> Responder:
    """The LLM responder when one is configured, else the offline composer. ``staff_text``
    tells the model's output check what customers must never be shown."""
    composer = ComposerResponder()
    if not settings.llm_enabled:
        return composer
    from bot.responder.llm import LLMResponder

    log.info(
        "replies through the LLM %s at %s",
        settings.llm_model,
        mask_url(settings.openai_base_url) if settings.openai_base_url else "the OpenAI API",
    )
    return LLMResponder.from_settings(
        api_key=settings.openai_api_key or "not-needed",
        base_url=settings.openai_base_url,
        model=settings.llm_model,
        fallback=composer,
        staff_text=staff_text,
    )


@dataclass
class Runtime:
    """Everything a command needs, opened once."""

    settings: Settings
    store: Store
    knowledge: KnowledgeBase
    engine: Engine

    def close(self) -> None:
        """Close the database."""
        self.store.close()


def build_runtime(
    settings: Settings,
    embedders: Sequence[Embedder] | None = None,
    responder: Responder | None = None,
) -> Runtime:
    """Open the store, load the knowledge base (files + imported entries) and the engine."""
    store = open_store(settings)
    if not store.cipher.encrypts:
        log.warning(
            "ONDO_ENCRYPTION_KEY is not set: customer messages are stored unencrypted in %s "
            "(`ondo keys generate` makes a key)",
            settings.db_label,
        )
    try:
        # Read first: a change made meanwhile is picked up later.
        version = store.knowledge_version_sync()
        imported = store.imported_entries_sync()
        if embedders is None:
            tuned = tuned_encoder(settings, merge(load_paths(settings.kb_paths), imported))
            if tuned is not None:
                log.info("MiniLM: using the encoder tuned on this knowledge base, %s", tuned)
            embedders = load_embedders(tuned) if tuned is not None else load_embedders()
        knowledge = KnowledgeBase.from_paths(
            settings.kb_paths, embedders, cache=store, extra=imported
        )
        knowledge.version = version
        # The Korean analyzer the cue lists read with (a Korean knowledge base loaded it already).
        words.warm_up()
    except BaseException:
        store.close()
        raise
    engine = Engine(
        store,
        knowledge,
        # Read through ``knowledge`` at each check: an approval swaps its staff text live.
        responder or build_responder(settings, lambda text: knowledge.staff_text.leaks(text)),
        default_detector(),
        staff_contact=settings.staff_contact,
    )
    return Runtime(settings, store, knowledge, engine)
