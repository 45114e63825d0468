// Prints "ready" once it reaches the brokers, then waits until a consumer group has
// committed offsets summing to TOTAL (every partition read to its end, for a topic
// whose offsets start at 0) and prints the epoch millisecond it saw that. Exits 1
// after TIMEOUT_S seconds. The broker's own record of the commit, polled every 50 ms:
// what a restart would resume from.
//   java -cp "$KAFKA_JARS/*" Committed.java BROKERS GROUP TOTAL TIMEOUT_S
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

public class Committed {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        String group = args[1];
        long total = Long.parseLong(args[2]);
        long deadline = System.currentTimeMillis() + Long.parseLong(args[3]) * 1000;
        try (Admin admin = Admin.create(props)) {
            admin.describeCluster().clusterId().get();
            System.out.println("ready");
            System.out.flush();
            while (System.currentTimeMillis() < deadline) {
                Map<TopicPartition, OffsetAndMetadata> offsets =
                        admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
                long sum = 0;
                for (OffsetAndMetadata o : offsets.values()) {
                    if (o != null) {
                        sum += o.offset();
                    }
                }
                if (sum >= total) {
                    System.out.println(System.currentTimeMillis());
                    return;
                }
                Thread.sleep(50);
            }
        }
        System.exit(1);
    }
}
