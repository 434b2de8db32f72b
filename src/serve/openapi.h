#pragma once
// The OpenAPI 3 document served at /docs (and /api-doc/openapi.json, TEI's path).
#include <nlohmann/json.hpp>

namespace medenc::serve {

const nlohmann::ordered_json& openapi_document();

}  // namespace medenc::serve
