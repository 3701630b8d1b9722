"""An app module that fails while importing (tests of App::load's traceback)."""
raise RuntimeError("broken at import")
