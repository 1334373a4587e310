namespace Gatehouse.Masking;

internal enum PgTypeClass : byte
{
    /// <summary>text, varchar, bpchar, name, unknown, or no type given (0): text in both formats.</summary>
    Text,
    Json,
    Jsonb,
    Xml,
    Bytea,
    Int8,
    Uuid,
    /// <summary>A known array type (element type in <see cref="PgTypes.ElementOf"/>).</summary>
    Array,
    /// <summary>record, or a composite whose OID is not known here.</summary>
    Record,
    /// <summary>A built-in type whose values hold no free text: numbers, times, booleans, network addresses…</summary>
    NonText,
    /// <summary>Anything else: extension and user types (citext, enums, domains, composites).</summary>
    Unknown,
}

/// <summary>The PostgreSQL type OIDs the masks know (pg_type.dat; fixed across versions and databases).</summary>
internal static class PgTypes
{
    public const uint Bool = 16, Bytea = 17, Char = 18, Name = 19, Int8 = 20, Int2 = 21, Int4 = 23, Text = 25, Oid = 26;
    public const uint Json = 114, Xml = 142, Unknown = 705, Bpchar = 1042, Varchar = 1043, Uuid = 2950, Jsonb = 3802;
    public const uint Record = 2249;

    public static PgTypeClass Classify(uint oid) => oid switch
    {
        0 or Text or Varchar or Bpchar or Name or Unknown => PgTypeClass.Text,
        Json => PgTypeClass.Json,
        Jsonb => PgTypeClass.Jsonb,
        Xml => PgTypeClass.Xml,
        PgTypes.Bytea => PgTypeClass.Bytea,
        PgTypes.Int8 => PgTypeClass.Int8,
        PgTypes.Uuid => PgTypeClass.Uuid,
        Record => PgTypeClass.Record,
        _ when ElementOf(oid) != 0 => PgTypeClass.Array,
        Bool or Char or Int2 or Int4 or Oid or 24 or 27 or 28 or 29 or 600 or 601 or 602 or 603 or 604 or 628 or 650 or 700 or 701
            or 718 or 774 or 790 or 829 or 869 or 1082 or 1083 or 1114 or 1184 or 1186 or 1266 or 1560 or 1562 or 1700 or 2202
            or 2203 or 2204 or 2205 or 2206 or 3220 or 3734 or 3769 or 3904 or 3906 or 3908 or 3910 or 3912 or 3926 or 4089
            or 4096 or 5038 or 5069 => PgTypeClass.NonText,
        _ => PgTypeClass.Unknown,
    };

    /// <summary>The element type of a built-in array type, or 0.</summary>
    public static uint ElementOf(uint arrayOid) => arrayOid switch
    {
        1009 => Text,
        1015 => Varchar,
        1014 => Bpchar,
        1003 => Name,
        199 => Json,
        3807 => Jsonb,
        143 => Xml,
        2287 => Record,
        1001 => PgTypes.Bytea,
        1002 => Char,
        1000 => Bool,
        1005 => Int2,
        1007 => Int4,
        1016 => PgTypes.Int8,
        1028 => Oid,
        1021 => 700,
        1022 => 701,
        1231 => 1700,
        1182 => 1082,
        1183 => 1083,
        1115 => 1114,
        1185 => 1184,
        1187 => 1186,
        1270 => 1266,
        2951 => PgTypes.Uuid,
        1041 => 869,
        651 => 650,
        1040 => 829,
        _ => 0,
    };
}
