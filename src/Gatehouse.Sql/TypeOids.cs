namespace Gatehouse.Sql;

/// <summary>
/// Names of PostgreSQL's built-in types by oid, for what a reviewer reads: oids below 10000 are fixed by the server's
/// catalogue (pg_type.dat), so a name here cannot be a user type of the same name. Other oids are shown as numbers.
/// </summary>
public static class TypeOids
{
    private static readonly Dictionary<int, string> Names = new()
    {
        [16] = "boolean", [17] = "bytea", [18] = "\"char\"", [19] = "name", [20] = "bigint", [21] = "smallint",
        [23] = "integer", [24] = "regproc", [25] = "text", [26] = "oid", [114] = "json", [142] = "xml",
        [650] = "cidr", [700] = "real", [701] = "double precision", [705] = "unknown", [790] = "money",
        [829] = "macaddr", [869] = "inet", [1042] = "character", [1043] = "character varying", [1082] = "date",
        [1083] = "time without time zone", [1114] = "timestamp without time zone", [1184] = "timestamp with time zone",
        [1186] = "interval", [1266] = "time with time zone", [1560] = "bit", [1562] = "bit varying", [1700] = "numeric",
        [2205] = "regclass", [2206] = "regtype", [2950] = "uuid", [3614] = "tsvector", [3615] = "tsquery",
        [3802] = "jsonb", [4089] = "regnamespace", [4096] = "regrole",
        [1000] = "boolean[]", [1005] = "smallint[]", [1007] = "integer[]", [1016] = "bigint[]", [1009] = "text[]",
        [1015] = "character varying[]", [1021] = "real[]", [1022] = "double precision[]", [1231] = "numeric[]",
        [2951] = "uuid[]", [199] = "json[]", [3807] = "jsonb[]", [1001] = "bytea[]",
    };

    /// <summary>The oids named here (for the test that compares them with a server's catalogue).</summary>
    public static IEnumerable<int> Named => Names.Keys;

    /// <summary>A declared parameter type: <c>integer</c>, <c>"char"</c>, <c>oid 16412</c>, or <c>unspecified</c> for 0.</summary>
    public static string Describe(int oid) =>
        oid == 0 ? "unspecified" : Names.TryGetValue(oid, out var name) ? name : "oid " + (uint)oid;
}
