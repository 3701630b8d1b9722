"""Find the WSGI callable named by an app URI, with Gunicorn's rules and error messages.

Forms: ``module:name``, ``module`` (then ``application``), ``module:factory()`` and
``module:factory(literal args)``; with ``--paste``, a PasteDeploy config file
(``load_paste``). Loaded by gunicorn-rs (src/wsgi/app.rs) before it is used;
``AppImportError`` messages are shown to the user as they are, anything else with its traceback.
"""
import importlib
import keyword
import os

# `ast` and `traceback` are imported where they are needed: every module the master imports
# is in every worker's memory, and the common `module:name` form needs neither.


class AppImportError(Exception):
    """The app URI does not name a usable callable."""


def _parse_target(target):
    """``name`` or ``name(args)`` → (name, args, kwargs); args is None for a plain name."""
    if target.isidentifier() and not keyword.iskeyword(target):
        return target, None, None
    import ast

    try:
        node = ast.parse(target, mode="eval").body
    except SyntaxError:
        raise AppImportError(
            "Failed to parse %r as an attribute name or function call." % target
        ) from None
    if isinstance(node, ast.Name):
        return node.id, None, None
    if not isinstance(node, ast.Call):
        raise AppImportError(
            "Failed to parse %r as an attribute name or function call." % target
        )
    if not isinstance(node.func, ast.Name):
        raise AppImportError("Function reference must be a simple name: %r" % target)
    try:
        args = [ast.literal_eval(arg) for arg in node.args]
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
    except ValueError:
        raise AppImportError(
            "Failed to parse arguments as literal values: %r" % target
        ) from None
    return node.func.id, args, kwargs


def _factory_rejected_args(factory, err):
    """Did the TypeError come from the call itself (wrong arguments), not from inside it?"""
    code = getattr(factory, "__code__", None)
    tb = err.__traceback__
    while tb is not None:
        if code is not None and tb.tb_frame.f_code is code:
            return False  # the factory ran: the error is the app's own
        tb = tb.tb_next
    return True


def import_app(uri):
    module, _, target = uri.partition(":")
    target = target or "application"
    try:
        mod = importlib.import_module(module)
    except ImportError:
        if module.endswith(".py") and os.path.exists(module):
            raise ImportError(
                "Failed to find application, did you mean '%s:%s'?"
                % (module.rsplit(".", 1)[0], target)
            )
        raise

    name, args, kwargs = _parse_target(target)
    try:
        app = getattr(mod, name)
    except AttributeError:
        raise AppImportError("Failed to find attribute %r in %r." % (name, module)) from None

    if args is not None:
        try:
            app = app(*args, **kwargs)
        except TypeError as err:
            if _factory_rejected_args(app, err):
                import traceback

                raise AppImportError(
                    "".join(traceback.format_exception_only(TypeError, err)).strip()
                ) from None
            raise

    if app is None:
        raise AppImportError("Failed to find application object: %r" % target)
    if not callable(app):
        raise AppImportError("Application object must be callable.")
    return app


def load_paste(config_uri, global_conf):
    """The app of a PasteDeploy config file (``/abs/path.ini`` or ``/abs/path.ini#section``),
    loaded as Gunicorn's ``--paste`` loads it: relative to the working directory, with the
    ``--paste-global`` entries as its global configuration."""
    try:
        from paste.deploy import loadapp
    except ImportError:
        raise AppImportError(
            "--paste needs PasteDeploy in the app's environment (pip install PasteDeploy)"
        ) from None
    if ":" not in config_uri:
        config_uri = "config:%s" % config_uri
    return loadapp(config_uri, name=None, relative_to=os.getcwd(), global_conf=global_conf)
