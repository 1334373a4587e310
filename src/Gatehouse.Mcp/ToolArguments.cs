using System.Text.Json;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Gatehouse.Mcp;

/// <summary>
/// Checks a tool call's arguments against the tool's input schema before the tool binds them: a missing or mistyped
/// argument is the caller's mistake, answered with a tool error that names it (the SDK answered "An error occurred
/// invoking 'query'" and logged a stack trace for it).
/// </summary>
internal static class ToolArguments
{
    public static McpRequestFilter<CallToolRequestParams, CallToolResult> Filter => next => async (context, ct) =>
        Problem(context.MatchedPrimitive as McpServerTool, context.Params?.Arguments) is { } problem
            ? ToolResults.Error(problem)
            : await next(context, ct);

    /// <summary>What is wrong with <paramref name="arguments"/> for <paramref name="tool"/>, or null.</summary>
    public static string? Problem(McpServerTool? tool, IDictionary<string, JsonElement>? arguments)
    {
        if (tool is null)
        {
            return null;
        }

        var schema = tool.ProtocolTool.InputSchema;
        string name = tool.ProtocolTool.Name;
        if (schema.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (schema.TryGetProperty("required", out var required) && required.ValueKind == JsonValueKind.Array)
        {
            foreach (var key in required.EnumerateArray().Select(r => r.GetString()).OfType<string>())
            {
                if (arguments is null || !arguments.TryGetValue(key, out var value) || value.ValueKind == JsonValueKind.Null)
                {
                    return $"{name}: missing required argument '{key}'";
                }
            }
        }

        if (arguments is null || !schema.TryGetProperty("properties", out var properties) || properties.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        foreach (var (key, value) in arguments)
        {
            // An argument the tool does not take is ignored, as the SDK ignores it.
            if (properties.TryGetProperty(key, out var property) && property.TryGetProperty("type", out var type) && !Accepts(type, value))
            {
                return $"{name}: argument '{key}' must be {Describe(type)}, not {Kind(value)}";
            }
        }

        return null;
    }

    private static bool Accepts(JsonElement type, JsonElement value) => type.ValueKind switch
    {
        JsonValueKind.String => Matches(type.GetString(), value),
        JsonValueKind.Array => type.EnumerateArray().Any(t => Matches(t.GetString(), value)),
        _ => true,
    };

    private static bool Matches(string? type, JsonElement value) => type switch
    {
        "string" => value.ValueKind == JsonValueKind.String,
        "integer" => value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out _),
        "number" => value.ValueKind == JsonValueKind.Number,
        "boolean" => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
        "array" => value.ValueKind == JsonValueKind.Array,
        "object" => value.ValueKind == JsonValueKind.Object,
        "null" => value.ValueKind == JsonValueKind.Null,
        _ => true,
    };

    private static string Describe(JsonElement type) =>
        type.ValueKind == JsonValueKind.Array ? string.Join(" or ", type.EnumerateArray().Select(t => Article(t.GetString()))) : Article(type.GetString());

    private static string Article(string? type) => type switch
    {
        "null" => "null",
        "integer" or "object" or "array" => "an " + type,
        _ => "a " + type,
    };

    private static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Number => "a number",
        JsonValueKind.String => "a string",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "null",
    };
}
