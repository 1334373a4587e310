using System.Globalization;
using System.Text;

namespace Gatehouse.Hosting;

/// <summary>One metric in the Prometheus text format: its TYPE line and its value.</summary>
internal static class MetricText
{
    public static StringBuilder Metric(this StringBuilder text, string type, string name, double value) =>
        text.Append(CultureInfo.InvariantCulture, $"# TYPE {name} {type}\n{name} {value}\n");
}
