"""/docs serves an OpenAPI 3 document that describes every route; each example parses and matches
the schema it documents (a small structural validator, written here)."""
import json

ROUTES = {("get", "/health"), ("get", "/info"), ("get", "/metrics"), ("post", "/embed"), ("post", "/embed_all"),
          ("post", "/embed_sparse"),
          ("post", "/predict"), ("post", "/rerank"), ("post", "/similarity"), ("post", "/tokenize"),
          ("post", "/decode"), ("post", "/v1/embeddings"), ("post", "/classify"), ("post", "/ner"),
          ("post", "/fill-mask")}


def resolve(doc, schema):
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        node = doc
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
    return schema


def validate(doc, schema, value, where):
    schema = resolve(doc, schema)
    if "oneOf" in schema:
        errors = []
        for option in schema["oneOf"]:
            try:
                validate(doc, option, value, where)
                return
            except AssertionError as e:
                errors.append(str(e))
        raise AssertionError(f"{where}: matches none of oneOf: {errors}")
    t = schema.get("type")
    if value is None:
        assert t is None or schema.get("nullable"), f"{where}: null where {t} is documented"
        return
    if t == "object":
        assert isinstance(value, dict), where
        for k in schema.get("required", []):
            assert k in value, f"{where}: missing {k}"
        for k, v in value.items():
            if k in schema.get("properties", {}):
                validate(doc, schema["properties"][k], v, f"{where}.{k}")
    elif t == "array":
        assert isinstance(value, list), where
        for i, v in enumerate(value):
            validate(doc, schema.get("items", {}), v, f"{where}[{i}]")
    elif t == "string":
        assert isinstance(value, str), where
        if "enum" in schema:
            assert value in schema["enum"], f"{where}: {value} not in enum"
    elif t == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), where
    elif t == "number":
        assert isinstance(value, (int, float)) and not isinstance(value, bool), where
    elif t == "boolean":
        assert isinstance(value, bool), where


def test_openapi_document(cls_server):
    server = cls_server
    doc = server.get("/docs").json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] and doc["info"]["version"]
    described = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert ROUTES <= described, ROUTES - described
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert "responses" in op and "200" in op["responses"], (method, path)
            if method == "post":
                content = op["requestBody"]["content"]["application/json"]
                example = content["example"]
                json.dumps(example)
                validate(doc, content["schema"], example, f"{method} {path} request")
            for status, resp in op["responses"].items():
                assert status.isdigit() and resp["description"], (path, status)
                for media, c in resp.get("content", {}).items():
                    if media == "application/json":
                        validate(doc, c["schema"], c["example"], f"{method} {path} {status}")
    assert doc == server.get("/api-doc/openapi.json").json()


def test_documented_examples_run(cls_server):
    server = cls_server
    """The documented request of each TEI route is accepted by the server (model names aside)."""
    doc = server.get("/docs").json()
    for path in ["/embed", "/embed_all", "/tokenize", "/decode", "/similarity", "/predict"]:
        body = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["example"]
        body.pop("model", None)
        if path == "/decode":
            body["ids"] = [[100, 200]]
        r = server.post(path, body)
        assert r.status_code == 200, (path, r.text)
        validate(doc, doc["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"],
                 r.json(), path)
