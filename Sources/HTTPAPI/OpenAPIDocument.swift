/// The API description served at `GET /openapi.json` (OpenAPI 3.1).
///
/// `OpenAPITests` checks that it names exactly the routes the router has, and CI fuzzes the
/// running API against it (`.ci/fuzz.sh`, schemathesis): no 5xx, every response as described.
enum OpenAPIDocument {
    static let json = #"""
    {
      "openapi": "3.1.0",
      "info": {
        "title": "EvenTicket",
        "version": "1.0.0",
        "description": "Sells event tickets; every order runs as a saga across services that talk through a PostgreSQL message bus."
      },
      "security": [{"bearer": []}],
      "paths": {
        "/health": {
          "get": {
            "operationId": "health",
            "summary": "Readiness: 200 while PostgreSQL answers.",
            "security": [],
            "responses": {
              "200": {"description": "Ready", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}},
              "503": {"$ref": "#/components/responses/Problem"}
            }
          },
          "head": {
            "operationId": "healthProbe",
            "summary": "Readiness as GET /health answers it, without a body.",
            "security": [],
            "responses": {"200": {"description": "Ready"}, "503": {"description": "The database is not reachable"}}
          }
        },
        "/events": {
          "post": {
            "operationId": "createEvent",
            "summary": "Create an event with its ticket types (operator).",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewEvent"}}}},
            "responses": {
              "201": {"description": "Created", "headers": {"Location": {"schema": {"type": "string"}}},
                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Event"}}}},
              "400": {"$ref": "#/components/responses/Problem"},
              "401": {"$ref": "#/components/responses/Problem"},
              "403": {"$ref": "#/components/responses/Problem"},
              "413": {"$ref": "#/components/responses/Problem"},
              "415": {"$ref": "#/components/responses/Problem"},
              "422": {"$ref": "#/components/responses/Problem"},
              "503": {"$ref": "#/components/responses/Problem"}
            }
          }
        },
        "/events/{eventId}": {
          "get": {
            "operationId": "getEvent",
            "summary": "An event with live availability.",
            "parameters": [{"name": "eventId", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
            "responses": {
              "200": {"description": "The event", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Event"}}}},
              "401": {"$ref": "#/components/responses/Problem"},
              "404": {"$ref": "#/components/responses/Problem"},
              "503": {"$ref": "#/components/responses/Problem"}
            }
          }
        },
        "/orders": {
          "post": {
            "operationId": "placeOrder",
            "summary": "Place an order; its saga starts in the same transaction.",
            "parameters": [{"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[\\u0020-\\u007E]+$"}}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewOrder"}}}},
            "responses": {
              "202": {"description": "Accepted", "headers": {"Location": {"schema": {"type": "string"}}},
                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}}},
              "400": {"$ref": "#/components/responses/Problem"},
              "401": {"$ref": "#/components/responses/Problem"},
              "409": {"$ref": "#/components/responses/Problem"},
              "413": {"$ref": "#/components/responses/Problem"},
              "415": {"$ref": "#/components/responses/Problem"},
              "422": {"$ref": "#/components/responses/Problem"},
              "503": {"$ref": "#/components/responses/Problem"}
            }
          }
        },
        "/orders/{orderId}": {
          "get": {
            "operationId": "getOrder",
            "summary": "An order and its outcome.",
            "parameters": [{"name": "orderId", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
            "responses": {
              "200": {"description": "The order", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}}},
              "401": {"$ref": "#/components/responses/Problem"},
              "404": {"$ref": "#/components/responses/Problem"},
              "503": {"$ref": "#/components/responses/Problem"}
            }
          }
        },
        "/sagas": {
          "get": {
            "operationId": "listSagas",
            "summary": "Sagas, newest first, in pages (operator).",
            "description": "A parameter not listed here, or one given twice, is refused with 400 naming it.",
            "parameters": [
              {"name": "state", "in": "query", "required": false, "schema": {"$ref": "#/components/schemas/SagaState"}},
              {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
              {"name": "after", "in": "query", "required": false, "schema": {"type": "string", "format": "uuid"}}
            ],
            "responses": {
              "200": {"description": "A page", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SagaPage"}}}},
              "400": {"$ref": "#/components/responses/Problem"},
              "401": {"$ref": "#/components/responses/Problem"},
              "403": {"$ref": "#/components/responses/Problem"},
              "503": {"$ref": "#/components/responses/Problem"}
            }
          }
        },
        "/sagas/{sagaId}": {
          "get": {
            "operationId": "getSaga",
            "summary": "A saga with its full history.",
            "parameters": [{"name": "sagaId", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
            "responses": {
              "200": {"description": "The saga", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Saga"}}}},
              "401": {"$ref": "#/components/responses/Problem"},
              "404": {"$ref": "#/components/responses/Problem"},
              "503": {"$ref": "#/components/responses/Problem"}
            }
          }
        },
        "/openapi.json": {
          "get": {
            "operationId": "openAPI",
            "summary": "This document.",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}
          }
        }
      },
      "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "A token from `eventicket token create`."}},
        "responses": {
          "Problem": {"description": "A problem (RFC 9457)", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        },
        "schemas": {
          "Problem": {
            "type": "object",
            "required": ["type", "title", "status"],
            "properties": {
              "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
              "detail": {"type": "string"}, "field": {"type": "string"}
            }
          },
          "Health": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
          "NewTicketType": {
            "type": "object", "additionalProperties": false,
            "required": ["name", "priceCents", "currency", "capacity"],
            "properties": {
              "name": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"},
              "priceCents": {"type": "integer", "minimum": 0, "maximum": 100000000},
              "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
              "capacity": {"type": "integer", "minimum": 0, "maximum": 1000000}
            }
          },
          "NewEvent": {
            "type": "object", "additionalProperties": false,
            "required": ["name", "ticketTypes"],
            "properties": {
              "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"},
              "ticketTypes": {"type": "array", "minItems": 1, "maxItems": 20, "items": {"$ref": "#/components/schemas/NewTicketType"}}
            }
          },
          "TicketType": {
            "type": "object",
            "required": ["ticketTypeId", "name", "priceCents", "currency", "capacity", "available"],
            "properties": {
              "ticketTypeId": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
              "priceCents": {"type": "integer"}, "currency": {"type": "string"},
              "capacity": {"type": "integer"}, "available": {"type": "integer"}
            }
          },
          "Event": {
            "type": "object",
            "required": ["eventId", "name", "ticketTypes"],
            "properties": {
              "eventId": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
              "ticketTypes": {"type": "array", "items": {"$ref": "#/components/schemas/TicketType"}}
            }
          },
          "OrderLine": {
            "type": "object", "additionalProperties": false,
            "required": ["ticketTypeId", "quantity"],
            "properties": {"ticketTypeId": {"type": "string", "format": "uuid"}, "quantity": {"type": "integer", "minimum": 1, "maximum": 100}}
          },
          "NewOrder": {
            "type": "object", "additionalProperties": false,
            "required": ["customerId", "eventId", "lines", "paymentToken"],
            "properties": {
              "customerId": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"},
              "eventId": {"type": "string", "format": "uuid"},
              "lines": {"type": "array", "minItems": 1, "maxItems": 20, "items": {"$ref": "#/components/schemas/OrderLine"}},
              "paymentToken": {"type": "string", "pattern": "^tok_[A-Za-z0-9_]{1,64}$"}
            }
          },
          "OrderStatus": {"type": "string", "enum": ["pending", "confirmed", "rejected"]},
          "Accepted": {
            "type": "object",
            "required": ["orderId", "sagaId", "status"],
            "properties": {"orderId": {"type": "string", "format": "uuid"}, "sagaId": {"type": "string", "format": "uuid"}, "status": {"$ref": "#/components/schemas/OrderStatus"}}
          },
          "Order": {
            "type": "object",
            "required": ["orderId", "sagaId", "customerId", "eventId", "status", "reason", "totalCents", "currency", "lines", "createdAt", "updatedAt"],
            "properties": {
              "orderId": {"type": "string", "format": "uuid"}, "sagaId": {"type": "string", "format": "uuid"},
              "customerId": {"type": "string"}, "eventId": {"type": "string", "format": "uuid"},
              "status": {"$ref": "#/components/schemas/OrderStatus"},
              "reason": {"type": ["string", "null"]},
              "totalCents": {"type": "integer"}, "currency": {"type": "string"},
              "lines": {"type": "array", "items": {"$ref": "#/components/schemas/OrderLine"}},
              "createdAt": {"type": "string", "format": "date-time"}, "updatedAt": {"type": "string", "format": "date-time"}
            }
          },
          "SagaState": {"type": "string", "enum": ["running", "compensating", "completed", "compensated", "failed"]},
          "HistoryItem": {
            "type": "object",
            "required": ["at", "kind", "message", "detail"],
            "properties": {
              "at": {"type": "string", "format": "date-time"},
              "kind": {"type": "string", "enum": ["started", "received", "ignored", "sent", "state", "order"]},
              "message": {"type": "string"}, "messageId": {"type": "string", "format": "uuid"},
              "detail": {"type": "object", "additionalProperties": {"type": "string"}}
            }
          },
          "Saga": {
            "type": "object",
            "required": ["sagaId", "type", "orderId", "state", "step", "createdAt", "updatedAt"],
            "properties": {
              "sagaId": {"type": "string", "format": "uuid"}, "type": {"type": "string", "enum": ["order"]},
              "orderId": {"type": "string", "format": "uuid"}, "state": {"$ref": "#/components/schemas/SagaState"},
              "step": {"type": "string"}, "reason": {"type": "string"}, "failure": {"type": "string"},
              "createdAt": {"type": "string", "format": "date-time"}, "updatedAt": {"type": "string", "format": "date-time"},
              "history": {"type": "array", "items": {"$ref": "#/components/schemas/HistoryItem"}}
            }
          },
          "SagaPage": {
            "type": "object",
            "required": ["sagas"],
            "properties": {"sagas": {"type": "array", "items": {"$ref": "#/components/schemas/Saga"}}, "nextCursor": {"type": "string", "format": "uuid"}}
          }
        }
      }
    }
    """#
}
